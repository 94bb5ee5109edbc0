"""The store: one database and its repositories, with media files in a data directory or an object store."""

from __future__ import annotations

import fcntl
from pathlib import Path

from skynet.config import Settings
from skynet.private_files import make_private
from skynet.store.alerts import AlertRepository
from skynet.store.audit import AuditRepository
from skynet.store.audit_witness import AuditWitness
from skynet.store.cameras import CameraRepository
from skynet.store.changes import ChangeLog
from skynet.store.database import Database
from skynet.store.faces import FaceRepository
from skynet.store.feeds import FeedImportRepository, FeedRepository
from skynet.store.holds import HoldRepository
from skynet.store.identities import IdentityRepository
from skynet.store.identity_keys import IdentityKeys
from skynet.store.jobs import JobRepository
from skynet.store.leases import LeaseRepository
from skynet.store.media import MediaFiles, MediaStore, storage_error
from skynet.store.observations import ObservationRepository
from skynet.store.outbox import OutboxRepository
from skynet.store.plates import PlateRepository
from skynet.store.sighting_list import SightingList
from skynet.store.sightings import SightingRepository
from skynet.store.sqlite import DB_NAME, SqliteDatabase
from skynet.store.users import UserRepository
from skynet.store.watchlists import WatchlistRepository


class Store:
    """The source of truth: cameras, sightings, face vectors, watch-lists, alerts, audit, jobs, users,
    webhook deliveries, each a repository over one :class:`Database`.

    Media files live in ``data_dir``, or in ``media`` (an object store, :func:`open_media`). Media no row names
    (left by a crash between a write and its row's commit) are swept at open when no other process has the data
    directory open: each holds a shared ``flock`` on ``store.lock``, the sweep needs an exclusive one (an object
    store's sweep also spares young objects, which another node may be about to commit).
    """

    def __init__(
        self, db: Database, data_dir: Path, *, sweep_orphans: bool = True, media: MediaStore | None = None
    ) -> None:
        self.db = db
        self.data_dir = Path(data_dir)
        self.media: MediaStore = media if media is not None else MediaFiles(self.data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.data_dir / "store.lock", "a+b")  # noqa: SIM115 (held while open)
        except OSError as error:
            raise storage_error(error, f"opening the data directory {self.data_dir}") from error
        make_private(self.data_dir)  # after the database files exist
        try:
            self._open_repositories()
            self.orphans_removed = self._sweep() if sweep_orphans else 0
            fcntl.flock(self._lock_file, fcntl.LOCK_SH)
        except BaseException:
            self._lock_file.close()
            raise

    def _open_repositories(self) -> None:
        db = self.db
        self.cameras = CameraRepository(db)
        self.faces = FaceRepository(db)
        self.plates = PlateRepository(db)
        self.feeds = FeedRepository(db)
        self.feed_imports = FeedImportRepository(db)
        self.identity_keys = IdentityKeys(self.data_dir)
        self.sightings = SightingRepository(db, self.media, self.cameras, self.faces, self.plates, self.feeds)
        self.sighting_list = SightingList(db, self.sightings)
        self.watchlists = WatchlistRepository(db, self.faces)
        self.alerts = AlertRepository(db)
        self.holds = HoldRepository(db)
        self.audit = AuditRepository(db, AuditWitness(self.data_dir))
        self.jobs = JobRepository(db)
        self.users = UserRepository(db)
        self.outbox = OutboxRepository(db)
        self.leases = LeaseRepository(db)
        self.index_leases = LeaseRepository(db, "index_leases", "partition_key")
        self.observations = ObservationRepository(db)
        self.identities = IdentityRepository(db)
        self.changes = ChangeLog(db)

    def _sweep(self) -> int:
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        return self.media.sweep_orphans(self.sightings.media_paths())

    def alone(self) -> bool:
        """Whether no other process (a running server, another command) has this data directory's store open
        now; while this returns True, none can open it until this store is closed."""
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def integrity_problems(self) -> list[str]:
        """Problems found: the database's own checks, face sightings without a vector, missing media files."""
        problems = self.db.problems()
        if faces := self.faces.without_vectors():
            problems.append(f"{faces} face sightings without a face vector")
        return problems + self.sightings.missing_media()

    def close(self) -> None:
        self.db.close()
        self._lock_file.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_media(settings: Settings) -> MediaStore | None:
    """The object store of ``settings.media_url``, checked (:func:`~skynet.store.s3_media.open_s3_media`); None when
    unset: media are files in the data directory."""
    if not settings.media_url:
        return None
    from skynet.store.s3_media import open_s3_media  # minio only where an object store is used

    return open_s3_media(settings)


def open_store(
    data_dir: Path, database_url: str | None = None, *, sweep_orphans: bool = True, media: MediaStore | None = None
) -> Store:
    """The store with media in ``data_dir`` (or ``media``) and its database in SQLite there (``skynet.db``), or in
    PostgreSQL at ``database_url`` when given; created or migrated as needed."""
    data_dir = Path(data_dir)
    db: Database
    if database_url:
        from skynet.store.postgres import PostgresDatabase  # psycopg only where PostgreSQL is used

        db = PostgresDatabase(database_url)
    else:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise storage_error(error, f"opening the data directory {data_dir}") from error
        db = SqliteDatabase(data_dir / DB_NAME)
    try:
        return Store(db, data_dir, sweep_orphans=sweep_orphans, media=media)
    except BaseException:
        db.close()
        raise
