"""Media in an S3-compatible object store (``SKYNET_MEDIA_URL=s3://bucket/prefix``, extra ``skynet[s3]``): every
node of a cluster writes and reads the same objects, named as the files of :class:`~skynet.store.media.MediaFiles`
are. Client: the MinIO Python SDK (``minio``), which speaks S3 to any compatible server."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from skynet.config import Settings
from skynet.errors import ConfigError
from skynet.store.errors import StoreError
from skynet.store.media import MEDIA_DIRS, check_name, new_name

if TYPE_CHECKING:
    from minio import Minio

log = logging.getLogger(__name__)

ORPHAN_AGE = dt.timedelta(hours=1)  # an unreferenced object older than this is no write in flight on another node
_DELETE_BATCH = 1000  # S3's most keys per DeleteObjects request


class S3Media:
    """Media objects under ``prefix`` in ``bucket``. A write is one PUT (whole or nothing); a failed one raises
    :class:`StoreError` and the sighting's row is not written, as for a full disk with :class:`MediaFiles`."""

    def __init__(self, client: Minio, bucket: str, prefix: str, where: str) -> None:
        self.client, self.bucket, self.prefix, self.where = client, bucket, prefix, where

    def _key(self, relative: str) -> str:
        return self.prefix + relative

    def write(self, kind: str, data: bytes) -> str:

        relative = new_name(kind)
        try:
            self.client.put_object(
                self.bucket, self._key(relative), io.BytesIO(data), len(data), content_type="image/jpeg"
            )
        except Exception as error:  # network, server or permission errors alike: nothing of this write was kept
            raise StoreError(f"could not store {relative} in {self.where}: {_reason(error)}") from error
        return relative

    def sync_dirs(self, relatives: Iterable[str]) -> None:
        """Nothing to do: an object is durable once its PUT has been answered."""

    def remove(self, relatives: Iterable[str]) -> int:
        """Delete objects; returns how many are gone. Never raises: the rows naming them are deleted already (or
        never written), so an object the store could not delete is logged and left to :meth:`sweep_orphans`."""
        from minio.deleteobjects import DeleteObject

        keys = [self._key(r) for r in relatives]
        removed = 0
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                failed = sum(1 for _ in self.client.remove_objects(self.bucket, [DeleteObject(k) for k in batch]))
            except Exception as error:
                failed, reason = len(batch), _reason(error)
            else:
                reason = "refused by the server"
            removed += len(batch) - failed  # S3 deletes of missing keys succeed too
            if failed:
                log.warning(
                    "%d media objects in %s not deleted (%s); the orphan sweep retries", failed, self.where, reason
                )
        return removed

    def exists(self, relative: str) -> bool:
        from minio.error import S3Error

        check_name(relative)
        try:
            self.client.stat_object(self.bucket, self._key(relative))
        except S3Error as error:
            if error.code in ("NoSuchKey", "NotFound", "ResourceNotFound"):
                return False
            raise StoreError(f"could not look up {relative} in {self.where}: {_reason(error)}") from error
        return True

    def read(self, relative: str | None) -> bytes | None:
        if not relative:
            return None
        try:
            check_name(relative)
        except StoreError:
            return None
        try:
            response = self.client.get_object(self.bucket, self._key(relative))
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()
        except Exception as error:
            # Servers word a missing key differently (rclone's error body is text/xml, which minio does not parse):
            # the HEAD of exists() tells a missing object from a failure alike on every server.
            if not self.exists(relative):
                return None
            raise StoreError(f"could not read {relative} from {self.where}: {_reason(error)}") from error

    def sweep_orphans(self, referenced: set[str]) -> int:
        """Delete objects no row names and older than :data:`ORPHAN_AGE` (younger ones may be another node's
        writes whose rows are not committed yet)."""
        cutoff = dt.datetime.now(dt.UTC) - ORPHAN_AGE
        orphans = []
        for kind in MEDIA_DIRS:
            for item in self.client.list_objects(self.bucket, prefix=self._key(kind + "/"), recursive=True):
                relative = (item.object_name or "")[len(self.prefix) :]
                modified = item.last_modified
                if relative not in referenced and modified is not None and modified < cutoff:
                    orphans.append(relative)
        return self.remove(orphans)


def open_s3_media(settings: Settings) -> S3Media:
    """The object store of ``settings.media_url``, checked: a URL that is not ``s3://bucket[/prefix]``, a missing
    client library, an endpoint that does not answer or refuses the keys, or a missing bucket is a
    :class:`ConfigError` naming the setting to fix. The keys are never part of a message."""
    url = settings.media_url or ""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"SKYNET_MEDIA_URL must be s3://bucket[/prefix], not {url!r}")
    endpoint = urlsplit(settings.media_endpoint)
    if endpoint.scheme not in ("http", "https") or not endpoint.hostname or endpoint.path.strip("/"):
        raise ConfigError(f"SKYNET_MEDIA_ENDPOINT must be http(s)://host[:port], not {settings.media_endpoint!r}")
    try:
        import urllib3
        from minio import Minio
        from minio.error import S3Error
    except ImportError as error:
        raise ConfigError(
            "SKYNET_MEDIA_URL names an object store but its client is not installed: pip install 'skynet[s3]'"
        ) from error
    bucket, prefix = parts.netloc, parts.path.strip("/")
    where = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5.0, read=30.0),
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
        maxsize=16,
    )
    client = Minio(
        endpoint.netloc,
        access_key=settings.media_access_key,
        secret_key=settings.media_secret_key,
        region=settings.media_region,
        secure=endpoint.scheme == "https",
        http_client=http,
    )
    try:
        found = client.bucket_exists(bucket)
    except S3Error as error:
        raise ConfigError(
            f"the object store at SKYNET_MEDIA_ENDPOINT={settings.media_endpoint} refused access to bucket "
            f"{bucket!r}: {error.code}; check SKYNET_MEDIA_ACCESS_KEY and SKYNET_MEDIA_SECRET_KEY"
        ) from error
    except Exception as error:
        raise ConfigError(
            f"the object store at SKYNET_MEDIA_ENDPOINT={settings.media_endpoint} does not answer: {_reason(error)}"
        ) from error
    if not found:
        raise ConfigError(f"SKYNET_MEDIA_URL={url}: bucket {bucket!r} does not exist at {settings.media_endpoint}")
    return S3Media(client, bucket, prefix + "/" if prefix else "", where)


def _reason(error: Exception) -> str:
    """A short reason for ``error``: its S3 error code (also from a body minio could not parse), else the
    exception's class and first line."""
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return code
    if found := re.search(r"<Code>(\w+)</Code>", str(error)):
        return found.group(1)
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
