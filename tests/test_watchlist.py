"""Watch-list matching on arrival: faces by similarity, plates exact or wildcard, expiry, alert fan-out."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from skynet.index.catalog import Catalog
from skynet.index.writer import CatalogWriter
from skynet.records import Box, Camera, PlateText, Sighting, SightingKind, WatchlistEntry
from skynet.watchlist import AlertFanout, WatchlistMatcher, plate_matches

NOW = 1_760_000_000.0


def _unit(values) -> np.ndarray:
    vector = np.asarray(values, np.float32)
    return vector / np.linalg.norm(vector)


def _face(embedding, camera="cam1") -> Sighting:
    return Sighting(camera, SightingKind.FACE, NOW, NOW + 2, NOW + 1, Box(0, 0, 60, 60), 0.8, embedding=embedding)


def _plate(text, alternatives=(), confidence=0.95) -> Sighting:
    read = PlateText(text, (confidence,) * len(text), alternatives=alternatives)
    return Sighting("cam1", SightingKind.PLATE, NOW, NOW + 2, NOW + 1, Box(0, 0, 90, 30), 0.8, plate=read)


@pytest.mark.parametrize(
    "pattern, text, alternatives, expected",
    [
        ("桂B12345", "桂B12345", (), 0.95),
        ("桂B*45", "桂B12345", (), 0.95),
        ("*123?5", "粤BD12345", (), 0.95),
        ("桂BD1234", "桂B01234", (), 0.95),  # D read as 0: folded together
        ("桂B12345", "桂B12346", (("桂B12345", 0.4),), 0.4),  # matched through an alternative read
        ("桂B12345", "桂B99999", (), None),
        ("桂B?45", "桂B12345", (), None),  # ? is exactly one character
    ],
)
def test_plate_patterns(pattern, text, alternatives, expected):
    read = PlateText(text, (0.95,) * len(text), alternatives=alternatives)
    assert plate_matches(pattern, read) == expected


@pytest.fixture
def catalog(tmp_path):
    with Catalog.open(tmp_path) as opened:
        opened.store.cameras.save(Camera("cam1", "gate", "rtsp://user:pw@host/s"))
        yield opened


def test_new_sightings_raise_alerts_for_active_entries_only(catalog):
    person = _unit([1, 0.2, 0, 0])
    store = catalog.store
    face_id = store.watchlists.add(
        WatchlistEntry(SightingKind.FACE, "suspect A", "case 2026-17", "alice", NOW - 10, embeddings=(person,))
    )
    plate_id = store.watchlists.add(
        WatchlistEntry(SightingKind.PLATE, "stolen car", "case 2026-18", "alice", NOW - 10, plate_pattern="桂B*45")
    )
    store.watchlists.add(
        WatchlistEntry(
            SightingKind.PLATE, "expired", "case 2025-01", "alice", NOW - 100, expires_at=NOW - 50, plate_pattern="粤B*"
        )
    )
    received = []
    arrived = threading.Event()

    def notify(alert, entry, sighting):
        received.append((alert, entry, sighting))
        arrived.set()

    matcher = WatchlistMatcher(store, notify, default_min_similarity=0.9, clock=lambda: NOW)
    writer = CatalogWriter(catalog)
    writer.add_listener(matcher)
    writer.publish(_face(_unit([1, 0.25, 0.02, 0])), np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))
    writer.publish(_face(_unit([0, 1, 0, 0])), np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))
    writer.publish(_plate("桂B12345"), np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))
    writer.publish(_plate("粤B77777"), np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))
    assert writer.flush(10)
    writer.close()

    assert sorted((a.entry_id, s.kind.value) for a, _, s in received) == sorted(
        [(face_id, "face"), (plate_id, "plate")]
    )
    for alert, entry, sighting in received:
        assert alert.id is not None and alert.sighting_id == sighting.id and entry.id == alert.entry_id
    stored = {a.id for a in store.alerts.latest()}
    assert stored == {a.id for a, _, _ in received}


def test_an_entry_threshold_of_zero_is_kept_not_replaced_by_the_default(catalog):
    """An entry's own ``min_similarity`` counts even when it is 0.0; only a missing one takes the default."""
    store = catalog.store

    def face_entry(label: str, min_similarity: float | None) -> int:
        reference = (_unit([1, 0, 0, 0]),)
        entry = WatchlistEntry(
            SightingKind.FACE, label, "case 5", "alice", NOW - 10, embeddings=reference, min_similarity=min_similarity
        )
        return store.watchlists.add(entry)

    zero, default = face_entry("anyone alike", 0.0), face_entry("default threshold", None)
    matcher = WatchlistMatcher(store, lambda a, e, s: None, default_min_similarity=0.924, clock=lambda: NOW)
    sighting = _face(_unit([1, 1, 0, 0]))  # similarity 0.707 to the reference
    [sighting_id] = catalog.add_sightings([sighting])
    alerts = matcher([replace(sighting, id=sighting_id)])  # as the writer hands its stored sightings on
    assert [(a.entry_id, round(a.score, 3)) for a in alerts] == [(zero, 0.707)]
    assert default not in {a.entry_id for a in alerts}


def test_invalidate_picks_up_a_new_entry(catalog):
    store = catalog.store
    received = []
    matcher = WatchlistMatcher(store, lambda a, e, s: received.append(a), 0.9, refresh_s=3600, clock=lambda: NOW)
    [sighting_id] = catalog.add_sightings([_plate("桂C54321")])
    sighting = store.sightings.get(sighting_id)
    assert matcher([sighting]) == []
    store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "new", "case 9", "bob", NOW, plate_pattern="桂C54321"))
    assert matcher([sighting]) == []  # cached until invalidated
    matcher.invalidate()
    assert len(matcher([sighting])) == 1 and len(received) == 1


def test_fanout_keeps_delivering_when_one_channel_fails():
    class Broken:
        def submit(self, body):
            raise ConnectionError("receiver down")

    class Recorder:
        def __init__(self):
            self.items = []

        def publish(self, *args):
            self.items.append(args)

    from skynet.records import Alert

    hub, mqtt = Recorder(), Recorder()
    fanout = AlertFanout(lambda s: f"/api/sightings/{s.id}/thumbnail", hub=hub, webhooks=Broken(), mqtt=mqtt)
    sighting = Sighting(
        "cam1", SightingKind.PLATE, NOW, NOW, NOW, Box(0, 0, 1, 1), 0.5, plate=PlateText("桂B12345", (0.9,) * 7), id=7
    )
    entry = WatchlistEntry(SightingKind.PLATE, "stolen", "case 1", "alice", NOW, plate_pattern="桂B12345", id=3)
    fanout.alert(Alert(3, 7, "cam1", NOW, 0.9, id=11), entry, sighting)
    assert len(hub.items) == 1 and hub.items[0][0].data["sighting"]["thumbnail_url"] == "/api/sightings/7/thumbnail"
    camera, payload = mqtt.items[0]
    assert camera == "cam1" and b'"label":"stolen"' in payload and b"case 1" not in payload


def _pass(catalog, text, track, first, last, confidence=0.95, camera="cam1") -> Sighting:
    """A stored plate sighting of ``camera``'s track ``track`` seen from ``first`` to ``last`` (seconds after NOW)."""
    read = PlateText(text, (confidence,) * len(text))
    sighting = Sighting(
        camera, SightingKind.PLATE, NOW + first, NOW + last, NOW + first, Box(0, 0, 90, 30), 0.8, plate=read,
        track_id=track,
    )  # fmt: skip
    [sighting_id] = catalog.add_sightings([sighting])
    return replace(sighting, id=sighting_id)


def _stolen_car(store, cooldown_s=None) -> int:
    return store.watchlists.add(
        WatchlistEntry(
            SightingKind.PLATE,
            "stolen car",
            "case 7",
            "alice",
            NOW - 10,
            plate_pattern="桂B12345",
            cooldown_s=cooldown_s,
        )
    )


def test_the_early_and_the_final_sighting_of_one_pass_raise_one_alert(catalog):
    """A track is published early (as soon as its read settles) and again at its end: one pass, one alert,
    which keeps the better-scoring sighting; the live view hears of the better one, the channels do not."""
    store = catalog.store
    entry_id = _stolen_car(store)
    told, updated = [], []
    matcher = WatchlistMatcher(
        store, lambda a, e, s: told.append(a), 0.924, clock=lambda: NOW, on_update=lambda a, e, s: updated.append(a)
    )
    early = _pass(catalog, "桂B12345", track=4, first=0, last=2, confidence=0.9)
    final = _pass(catalog, "桂B12345", track=4, first=2.2, last=6, confidence=0.99)
    assert len(matcher([early])) == 1
    assert matcher([final]) == []  # folded into the early sighting's alert
    [alert] = store.alerts.latest()
    assert len(told) == 1 and alert.id == told[0].id and alert.entry_id == entry_id
    assert alert.sighting_id == final.id and alert.score == pytest.approx(0.99) and alert.sightings == 2
    assert alert.last_seen == NOW + 6 and alert.updated_at == NOW
    assert [a.id for a in updated] == [alert.id]
    # a later, weaker segment of the same pass is counted but does not replace the better sighting
    assert matcher([_pass(catalog, "桂B12345", track=4, first=6.5, last=9, confidence=0.8)]) == []
    [alert] = store.alerts.latest()
    assert alert.sighting_id == final.id and alert.sightings == 3 and len(updated) == 1


def test_each_pass_alerts_without_a_cooldown_and_other_cameras_alert_on_their_own(catalog):
    store = catalog.store
    store.cameras.save(Camera("cam2", "exit", "rtsp://host/s2"))
    _stolen_car(store)
    matcher = WatchlistMatcher(store, lambda a, e, s: None, 0.924, clock=lambda: NOW)
    assert len(matcher([_pass(catalog, "桂B12345", track=1, first=0, last=3)])) == 1
    assert len(matcher([_pass(catalog, "桂B12345", track=2, first=9, last=12)])) == 1  # 6 s later: a new pass
    assert len(matcher([_pass(catalog, "桂B12345", track=2, first=0, last=2, camera="cam2")])) == 1
    # a track number used again long after (a restarted camera) is another pass
    assert len(matcher([_pass(catalog, "桂B12345", track=1, first=600, last=603)])) == 1
    assert len(store.alerts.latest()) == 4


def test_a_track_lost_for_a_moment_and_found_again_as_a_new_track_is_the_same_pass(catalog):
    """The tracker finishes a track unseen for 2 s; the plate found again 2.6 s later is a new track of the
    same pass (as in the seed-1 scenario), not a second alert."""
    store = catalog.store
    _stolen_car(store)
    matcher = WatchlistMatcher(store, lambda a, e, s: None, 0.924, clock=lambda: NOW)
    assert len(matcher([_pass(catalog, "桂B12345", track=6, first=0, last=0)])) == 1
    assert matcher([_pass(catalog, "桂B12345", track=7, first=2.6, last=3.9)]) == []
    [alert] = store.alerts.latest()
    assert alert.sightings == 2 and alert.last_seen == NOW + 3.9
    # the pass goes on from its last sighting: 4.5 s after it, yet another track still belongs to it
    assert matcher([_pass(catalog, "桂B12345", track=8, first=8.4, last=9)]) == []
    assert len(store.alerts.latest()) == 1
    # a wildcard entry matches many vehicles: another plate right after is another pass
    store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "fleet", "case 8", "alice", NOW - 10, plate_pattern="桂C*"))
    matcher.invalidate()
    assert len(matcher([_pass(catalog, "桂C11111", track=20, first=20, last=22)])) == 1
    assert len(matcher([_pass(catalog, "桂C22222", track=21, first=22.5, last=24)])) == 1
    assert matcher([_pass(catalog, "桂C22222", track=22, first=26, last=27)]) == []


def test_a_pass_within_the_entry_cooldown_is_added_to_the_last_alert(catalog):
    store = catalog.store
    quiet, chatty = _stolen_car(store, cooldown_s=120), _stolen_car(store)
    matcher = WatchlistMatcher(store, lambda a, e, s: None, 0.924, clock=lambda: NOW, default_cooldown_s=0)
    alerts = matcher([_pass(catalog, "桂B12345", track=1, first=0, last=5)])
    assert sorted(a.entry_id for a in alerts) == sorted([quiet, chatty])
    again = matcher([_pass(catalog, "桂B12345", track=2, first=60, last=65)])  # 55 s after: within 120 s
    assert [a.entry_id for a in again] == [chatty]
    later = matcher([_pass(catalog, "桂B12345", track=3, first=200, last=205)])  # 135 s after the last pass
    assert sorted(a.entry_id for a in later) == sorted([quiet, chatty])
    counts = sorted((a.entry_id, a.sightings) for a in store.alerts.latest())
    assert counts == sorted([(quiet, 2), (quiet, 1), (chatty, 1), (chatty, 1), (chatty, 1)])
    # the setting is every entry's default
    default = WatchlistMatcher(store, lambda a, e, s: None, 0.924, clock=lambda: NOW, default_cooldown_s=600)
    assert [a.entry_id for a in default([_pass(catalog, "桂B12345", track=9, first=300, last=305)])] == []


def test_acknowledge_all_marks_the_open_alerts_of_one_entry_or_all(catalog):
    store = catalog.store
    store.cameras.save(Camera("cam2", "exit", "rtsp://host/s2"))
    first, second = _stolen_car(store), _stolen_car(store)
    matcher = WatchlistMatcher(store, lambda a, e, s: None, 0.924, clock=lambda: NOW)
    matcher([_pass(catalog, "桂B12345", track=1, first=0, last=3)])
    matcher([_pass(catalog, "桂B12345", track=1, first=0, last=3, camera="cam2")])
    by_entry = {a.entry_id: [] for a in store.alerts.latest()}
    for alert in store.alerts.latest():
        by_entry[alert.entry_id].append(alert.id)
    done_one = store.alerts.acknowledge(by_entry[first][0], "carol", NOW + 1)
    assert done_one is not None and done_one.acknowledged_by == "carol"
    assert store.alerts.acknowledge_all("dave", NOW + 2, entry_id=first) == [by_entry[first][1]]
    assert store.alerts.acknowledge_all("dave", NOW + 3) == sorted(by_entry[second])
    assert store.alerts.acknowledge_all("dave", NOW + 4) == []
    handled = {a.id: a.acknowledged_by for a in store.alerts.latest()}
    assert handled[by_entry[first][0]] == "carol"  # the first acknowledgement is kept
    assert sorted(handled.values()) == ["carol", "dave", "dave", "dave"]
