"""External feeds: checkpoint reads and registrations pushed and imported into a real store, checked per row,
idempotent, resumable, matched against plate and identity watch-lists, sealed identity keys."""

from __future__ import annotations

import base64
import csv
import json
import os
import threading
import time

import pytest
from api_support import make_api
from store_support import database_url, jpeg, open_catalog, plate  # noqa: F401 (fixture)

from skynet.errors import InvalidInputError
from skynet.records import FeedDetail, RegistrationPlace, Sighting, SightingKind, SightingSource, WatchlistEntry
from skynet.services.feed_files import MAX_LINE
from skynet.services.feed_rows import FeedKind
from skynet.services.feeds import FeedService
from skynet.store.identity_keys import IdentityKeys, mask
from skynet.store.plates import PlateMode

NOW = 1_780_000_000.0
ID = "11010519491231002X"  # a valid PRC ID-card number (check digit X)
ID_2 = "440524188001010014"


def _read(plate_text: str, t: float = NOW - 60, checkpoint: str = "cp-1", **more) -> dict:
    return {"plate": plate_text, "checkpoint": checkpoint, "time": t, **more}


def _registration(identity: str = ID, t: float = NOW - 60, **more) -> dict:
    return {
        "identity": identity,
        "name": "张三",
        "place": "Hotel Lotus",
        "latitude": 22.8,
        "longitude": 108.3,
        "time": t,
        "source": "hotel",
        **more,
    }


@pytest.fixture
def api(tmp_path):
    api = make_api(tmp_path / "data", clock=lambda: NOW)
    from skynet.records import Camera

    api.catalog.store.cameras.save(Camera("cp-1", "Checkpoint G7 north", "", 22.9, 108.4, ("checkpoint",)))
    yield api
    api.close()


def test_identity_keys_sealed_hashed_masked_and_kept_in_a_private_key_file(tmp_path):
    keys = IdentityKeys(tmp_path)
    sealed = keys.seal(f"cn_id:{ID}")
    assert sealed.masked == "1101**********002X" and mask("450123199001011234") == "4501**********1234"
    assert ID.encode() not in sealed.sealed and sealed.key_hash == keys.key_hash(f"cn_id:{ID}")
    assert keys.unseal(sealed) == f"cn_id:{ID}" and IdentityKeys(tmp_path).unseal(sealed) == f"cn_id:{ID}"
    assert os.stat(tmp_path / "identity.key").st_mode & 0o077 == 0
    (tmp_path / "other").mkdir()
    other = IdentityKeys(tmp_path / "other")
    assert other.key_hash(f"cn_id:{ID}") != sealed.key_hash
    with pytest.raises(Exception, match="cannot be decrypted"):
        other.unseal(sealed)


def test_feed_records_stored_once_by_natural_key_and_read_back(database_url, tmp_path):
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        identity = store.identity_keys.seal(f"cn_id:{ID}")
        read = Sighting(
            "cam-a", SightingKind.PLATE, NOW, NOW, NOW, plate(NOW, "桂B12345").box, 0.9,
            plate=plate(NOW, "桂B12345").plate, source=SightingSource.CHECKPOINT, feed=FeedDetail("k1", "north"),
        )  # fmt: skip
        person = Sighting(
            "cam-b", SightingKind.IDENTITY, NOW, NOW, NOW, read.box, 1.0, source=SightingSource.REGISTRATION,
            feed=FeedDetail("k2", place=RegistrationPlace.HOTEL, person_name="张三", identity=identity),
        )  # fmt: skip
        first = store.sightings.add_new([read, person, read])
        again = store.sightings.add_new([person, read])
        assert first[0] and first[1] and first[2] is None and again == [None, None]
        got = store.sightings.get_many([first[0], first[1]])
        assert got[0].source is SightingSource.CHECKPOINT and got[0].feed.direction == "north"
        assert got[1].feed.identity == identity and got[1].feed.place is RegistrationPlace.HOTEL
        assert store.feeds.with_identity(identity.key_hash, 10) == [first[1]]
        assert store.plates.search("桂B12345", PlateMode.EXACT)[0].sighting_id == first[0]
        assert store.sightings.counts() == {"face": 0, "plate": 1, "identity": 1}


def test_pushed_records_checked_one_by_one_and_a_second_push_adds_nothing(api):
    feeds: FeedService = api.system.feeds
    records = [
        _read("桂B12345", direction="north", image=base64.b64encode(jpeg(3)).decode()),
        _read("桂B99999", checkpoint="nowhere"),
        _read("桂B77777", t="yesterday"),
        _read("桂B66666", t="2026-12-06T08:15:00"),
        {"plate": "桂B55555", "time": NOW},
        _read("桂B44444", t=NOW + 10 * 86400),
    ]
    outcomes = feeds.push("feeder", FeedKind.CHECKPOINT, records)
    assert [o.outcome for o in outcomes] == ["added"] + ["rejected"] * 5
    reasons = [o.reason for o in outcomes[1:]]
    assert "unknown checkpoint" in reasons[0] and "bad time" in reasons[1] and "UTC offset" in reasons[2]
    assert reasons[3] == "missing checkpoint" and "out of range" in reasons[4]
    again = feeds.push("feeder", FeedKind.CHECKPOINT, records[:1])
    assert again[0].outcome == "duplicate"
    stored = api.catalog.store.sightings.get(outcomes[0].sighting_id)
    assert stored.source is SightingSource.CHECKPOINT and stored.camera_id == "cp-1"
    assert (api.system.settings.data_dir / stored.thumbnail_path).read_bytes() == jpeg(3)


def test_registrations_checked_and_their_places_kept_as_cameras_without_a_stream(api):
    feeds: FeedService = api.system.feeds
    outcomes = feeds.push(
        "feeder",
        FeedKind.REGISTRATION,
        [
            _registration(),
            _registration("110105194912310021"),  # wrong check digit
            _registration(source="sauna"),
            _registration(latitude=200),
            _registration("AB12", id_type="passport", t=NOW - 30),
        ],
    )
    assert [o.outcome for o in outcomes] == ["added", "rejected", "rejected", "rejected", "added"]
    assert "malformed ID-card number" in outcomes[1].reason and "110105" not in outcomes[1].reason
    place = api.catalog.store.sightings.get(outcomes[0].sighting_id).camera_id
    camera = {c.id: c for c in api.catalog.store.cameras.all()}[place]
    assert camera.name == "Hotel Lotus" and not camera.live and (camera.latitude, camera.longitude) == (22.8, 108.3)
    assert api.catalog.store.sightings.get(outcomes[4].sighting_id).camera_id == place


def test_matched_on_arrival_plates_as_today_and_identity_keys(api):
    store = api.catalog.store
    fanned = []
    api.system.matcher.notify = lambda alert, entry, sighting: fanned.append((entry.label, sighting.source))
    store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "stolen", "case 1", "inv", NOW, plate_pattern="桂B1234?"))
    api.system.watchlists.add(
        api.system.users.users.get_user("investigator"),
        SightingKind.IDENTITY,
        "wanted",
        "case 2",
        identity=ID.lower(),
    )
    api.system.matcher.invalidate()
    feeds: FeedService = api.system.feeds
    feeds.push("feeder", FeedKind.CHECKPOINT, [_read("桂B12345"), _read("桂A00000")])
    feeds.push("feeder", FeedKind.REGISTRATION, [_registration(), _registration(ID_2)])
    assert fanned == [("stolen", SightingSource.CHECKPOINT), ("wanted", SightingSource.REGISTRATION)]
    assert len(store.alerts.latest(10)) == 2
    entry = [e for e in store.watchlists.all() if e.kind is SightingKind.IDENTITY][0]
    assert entry.identity.masked == "1101**********002X"
    from skynet.alerts.messages import AlertFields, AlertTemplates, Template
    from skynet.config import Settings

    alert = [a for a in store.alerts.latest(10) if a.entry_id == entry.id][0]
    registration = store.sightings.get(alert.sighting_id)
    fields = AlertFields.of(alert, entry, registration, "Hotel Lotus", None, None)
    default = Settings(data_dir=api.system.settings.data_dir).alert_sms_template
    text = AlertTemplates(Template("t", default), Template("s", "x"), Template("b", "x")).sms_text(fields)
    assert "wanted 1101**********002X at Hotel Lotus" in text and ID not in text


def _write_csv(path, rows, header=("plate", "checkpoint", "time", "direction")):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


def test_csv_import_reports_rejected_rows_and_a_second_import_adds_nothing(api, tmp_path):
    feeds: FeedService = api.system.feeds
    path = tmp_path / "reads.csv"
    _write_csv(
        path,
        [
            ("桂B12345", "cp-1", "2026-05-28T08:00:00+08:00", "north"),
            ("", "cp-1", "2026-05-28T08:00:01+08:00", ""),
            ("桂B12346", "cp-9", "2026-05-28T08:00:02+08:00", ""),
            ("桂B12347", "cp-1", "not a time", ""),
            ("桂B12348", "cp-1"),
            ("桂B12349", "cp-1", "2026-05-28T08:00:04+08:00", "south"),
        ],
    )
    result = feeds.import_file("operator", path, FeedKind.CHECKPOINT)
    assert (result.added, result.duplicates, result.rejected) == (2, 0, 4)
    with open(result.report, encoding="utf-8") as file:
        report = list(csv.DictReader(file))
    assert [(r["line"], r["reason"].split(" (")[0]) for r in report] == [
        ("3", "missing plate"),
        ("4", "unknown checkpoint 'cp-9'"),
        ("5", "bad time"),
        ("6", "2 fields where the header has 4"),
    ]
    again = feeds.import_file("operator", path, FeedKind.CHECKPOINT)
    assert again.already_done and again.added == 0
    with open(path, "a", encoding="utf-8") as file:  # the file grows: imported again, only the new row added
        file.write("桂B12350,cp-1,2026-05-28T08:00:05+08:00,\n")
    grown = feeds.import_file("operator", path, FeedKind.CHECKPOINT)
    assert (grown.added, grown.duplicates, grown.rejected) == (1, 2, 4)
    assert api.catalog.store.sightings.counts()["plate"] == 3


def test_jsonl_import_resumes_where_a_stopped_import_was(api, tmp_path):
    feeds: FeedService = api.system.feeds
    feeds.batch_rows = BATCH = 500
    path = tmp_path / "reads.jsonl"
    rows = [_read(f"桂B{i:05d}", t=NOW - 3600 + i * 0.1) for i in range(BATCH + 10)]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{not json\n[1]\n", "utf-8")
    stop = threading.Event()
    stop.set()  # stops after the first batch
    first = feeds.import_file("operator", path, FeedKind.CHECKPOINT, stop=stop)
    assert first.added == BATCH and first.errors
    rest = feeds.import_file("operator", path, FeedKind.CHECKPOINT)
    assert rest.resumed_at_line == BATCH and rest.added == BATCH + 10 and rest.duplicates == 0
    assert rest.rejected == 2 and api.catalog.store.sightings.counts()["plate"] == BATCH + 10


def test_files_that_are_not_feed_files_refused_at_once_with_little_memory(api, tmp_path):
    feeds: FeedService = api.system.feeds
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as file:
        file.truncate(1 << 30)  # 1 GB of NUL bytes (sparse)
    started = time.perf_counter()
    with pytest.raises(InvalidInputError, match="not a CSV file of checkpoint records"):
        feeds.import_file("operator", huge, FeedKind.CHECKPOINT)
    assert time.perf_counter() - started < 2.0
    photo = tmp_path / "photo.csv"
    photo.write_bytes(jpeg(1))
    with pytest.raises(InvalidInputError, match="not a CSV file"):
        feeds.import_file("operator", photo, FeedKind.CHECKPOINT)
    wrong = tmp_path / "people.csv"
    _write_csv(wrong, [], header=("identity", "name"))
    with pytest.raises(InvalidInputError, match="lacks the column"):
        feeds.import_file("operator", wrong, FeedKind.CHECKPOINT)
    long_line = tmp_path / "long.csv"
    long_line.write_bytes(
        b"plate,checkpoint,time\n" + b"x" * (3 * MAX_LINE) + b"\n" + f"桂B1,cp-1,{NOW - 5}\n".encode()
    )
    result = feeds.import_file("operator", long_line, FeedKind.CHECKPOINT)
    assert (result.added, result.rejected) == (1, 1)
    assert api.catalog.store.sightings.counts()["plate"] == 1


def test_registrations_import_and_plate_trajectory_beside_video(api, tmp_path):
    feeds: FeedService = api.system.feeds
    path = tmp_path / "hotel.csv"
    _write_csv(
        path,
        [
            (ID, "张三", "Hotel Lotus", "22.8", "108.3", str(NOW - 100), "hotel"),
            ("123", "李四", "x", "1", "1", "1", "x"),
        ],
        header=("identity", "name", "place", "latitude", "longitude", "time", "source"),
    )
    result = feeds.import_file("operator", path, FeedKind.REGISTRATION)
    assert (result.added, result.rejected) == (1, 1)
    assert ID not in open(result.report, encoding="utf-8").read().split("\n", 2)[1].split(",")[1]
    api.catalog.add_sightings([plate(NOW - 7200, "桂B12345", camera="cam-a")])
    feeds.push("feeder", FeedKind.CHECKPOINT, [_read("桂B12345", t=NOW - 60)])
    investigator = api.system.users.users.get_user("investigator")
    from skynet.services.search import Filters

    traced = api.system.trajectories.of_plate(investigator, "case 3", "桂B12345", PlateMode.EXACT, Filters())
    assert [(s.camera_id, s.sources) for s in traced.trajectory.stops] == [
        ("cam-a", ("video",)),
        ("cp-1", ("checkpoint",)),
    ]


def test_cli_import_then_again_once_the_checkpoint_exists(tmp_path):
    from typer.testing import CliRunner

    from skynet.cli import _register_commands, app
    from skynet.records import Camera
    from skynet.store import open_store

    _register_commands()
    data = tmp_path / "data"
    path = tmp_path / "reads.csv"
    _write_csv(path, [("桂B12345", "cp-2", str(time.time() - 60), "east")])

    def run(*more: str):
        return CliRunner().invoke(
            app, ["feeds", "import", str(path), "--kind", "checkpoint", "--data-dir", str(data), *more]
        )

    first = run()
    assert first.exit_code == 0 and "0 added, 0 already stored, 1 rejected" in first.output
    with open_store(data) as store:
        store.cameras.save(Camera("cp-2", "Checkpoint 2", ""))
    assert "imported before" in run().output
    again = run("--again")
    assert again.exit_code == 0 and "1 added" in again.output


def test_rows_read_a_block_at_a_time_keep_csv_rules_lines_and_offsets(tmp_path):
    from skynet.services.feed_files import FileFormat, read_rows

    path = tmp_path / "reads.csv"
    huge = b"x" * (2 << 20)  # longer than a block: skipped in chunks
    path.write_bytes(
        b"\xef\xbb\xbfplate,checkpoint,time\r\n"
        + b'"\xe6\xa1\x82B1,2",cp-1,1\r\n'  # a quoted field holding a comma
        + b"\n"
        + huge
        + b"\n"
        + b'a,"b,1\n'  # an unbalanced quote: this line only
        + "桂B3,cp-1,3".encode()  # the last line, without its newline
    )
    with read_rows(path, FileFormat.CSV, FeedKind.CHECKPOINT) as rows:
        read = list(rows)
    assert [(r.line, r.fields, r.error and r.error.split(" (")[0]) for r in read] == [
        (2, {"plate": "桂B1,2", "checkpoint": "cp-1", "time": "1"}, None),
        (4, None, f"line longer than {MAX_LINE} bytes"),
        (5, None, "2 fields where the header has 3"),
        (6, {"plate": "桂B3", "checkpoint": "cp-1", "time": "3"}, None),
    ]
    assert read[-1].end == path.stat().st_size
    with read_rows(path, FileFormat.CSV, FeedKind.CHECKPOINT, read[1].end, read[1].line) as rows:
        assert [r.line for r in rows] == [5, 6]  # resumed after the long line


def test_imported_batches_matched_like_pushes_only_the_candidates_built(api, tmp_path):
    store = api.catalog.store
    fanned = []
    api.system.matcher.notify = lambda alert, entry, sighting: fanned.append((entry.label, sighting.plate.text))
    for label, pattern in (("exact", "桂B00017"), ("wild", "桂C*"), ("confusable", "桂B0OO42"), ("none", "京A1")):
        store.watchlists.add(WatchlistEntry(SightingKind.PLATE, label, "case", "inv", NOW, plate_pattern=pattern))
    api.system.matcher.invalidate()
    feeds: FeedService = api.system.feeds
    feeds.batch_rows = 20
    path = tmp_path / "reads.csv"
    plates = [f"桂B{i:05d}" for i in range(50)] + ["桂C12345"]
    _write_csv(path, [(p, "cp-1", str(NOW - 100 + i), "") for i, p in enumerate(plates)])
    result = feeds.import_file("operator", path, FeedKind.CHECKPOINT)
    assert (result.added, result.rejected) == (51, 0)
    assert sorted(fanned) == [("confusable", "桂B00042"), ("exact", "桂B00017"), ("wild", "桂C12345")]
    assert len(store.alerts.latest(10)) == 3


def test_an_import_that_fails_mid_file_resumes_adding_nothing_twice_and_losing_nothing(api, tmp_path, monkeypatch):
    store = api.catalog.store
    feeds: FeedService = api.system.feeds
    feeds.batch_rows = 100
    path = tmp_path / "reads.csv"
    _write_csv(path, [(f"桂B{i:05d}", "cp-1", str(NOW - 1000 + i), "") for i in range(450)])
    add_new, calls = store.sightings.add_new, []

    def failing(*args, **kwargs):  # the third batch's write fails (a full disk, a killed process)
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return add_new(*args, **kwargs)

    monkeypatch.setattr(store.sightings, "add_new", failing)
    with pytest.raises(OSError):
        feeds.import_file("operator", path, FeedKind.CHECKPOINT)
    assert store.sightings.counts()["plate"] == 200
    monkeypatch.setattr(store.sightings, "add_new", add_new)
    rest = feeds.import_file("operator", path, FeedKind.CHECKPOINT)
    assert (rest.resumed_at_line, rest.added, rest.duplicates, rest.rejected) == (201, 450, 0, 0)
    assert store.sightings.counts()["plate"] == 450
