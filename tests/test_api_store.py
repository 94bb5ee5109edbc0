"""The store's service tables on both backends: users and tokens, jobs, alert acknowledgement,
watch-list and camera deletion, plate search filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_support import database_url, open_catalog, plate  # noqa: F401 (fixture)

# The alert outbox in the store is held to the DeliveryOutbox contract tests, collected here again
# with this module's ``outbox`` fixture (both backends).
from test_alerts_outbox import (  # noqa: F401
    test_a_claimed_delivery_is_leased_and_comes_back_when_the_lease_ends,
    test_claim_takes_due_deliveries_earliest_first_up_to_the_limit,
    test_done_deliveries_are_never_claimed_again,
    test_each_channel_has_its_own_queue_in_one_outbox,
    test_failed_attempts_are_rescheduled_or_given_up,
)

from skynet.accounts.errors import UserExistsError
from skynet.accounts.model import ApiToken, Role, User
from skynet.records import Alert, Camera, Channel, DeliveryState, Job, JobState, SightingKind, WatchlistEntry
from skynet.store.errors import CameraInUseError, InvalidSightingError
from skynet.store.plates import PlateMode


def test_users_and_tokens(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        user = store.users.add_user(User("ann", Role.INVESTIGATOR, 1.0, "scrypt$hash"))
        assert user.id is not None and store.users.get_user("ann") == user
        with pytest.raises(UserExistsError, match="already exists"):
            store.users.add_user(User("ann", Role.ADMIN, 2.0))
        token = store.users.add_token(ApiToken("h" * 64, "ann", 1.0, 100.0, "cli"))
        assert store.users.find_token("h" * 64) == token and store.users.find_token("x") is None
        assert [u.name for u in store.users.users()] == ["ann"]
        assert store.users.revoke_token("h" * 64) and not store.users.revoke_token("h" * 64)
        assert store.users.find_token("h" * 64) is None


def test_jobs_alerts_watchlist_cameras(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        job_id = store.jobs.add(Job("reindex", "ann", 1.0, 1.0, JobState.QUEUED, {"paths": ["/a"]}, {"files_total": 1}))
        store.jobs.update(
            Job("reindex", "ann", 1.0, 2.0, JobState.DONE, {"paths": ["/a"]}, {"files_done": 1}, ("x",), job_id)
        )
        assert store.jobs.get(job_id) == Job(
            "reindex", "ann", 1.0, 2.0, JobState.DONE, {"paths": ["/a"]}, {"files_done": 1}, ("x",), job_id
        )
        assert store.jobs.get(job_id + 1) is None
        running = store.jobs.add(Job("reindex", "ann", 3.0, 3.0, JobState.RUNNING))
        assert store.jobs.fail_unfinished(4.0) == 1
        interrupted = store.jobs.get(running)
        assert interrupted.state is JobState.FAILED and "interrupted" in interrupted.errors[0]
        assert store.jobs.get(job_id).state is JobState.DONE
        assert [j.id for j in store.jobs.latest()] == [running, job_id]
        assert [j.id for j in store.jobs.latest(state=JobState.DONE)] == [job_id] and len(
            store.jobs.latest(limit=1)
        ) == 1

        [sid] = catalog.add_sightings([plate(10.0, "桂B12345", "cam-a")])
        entry = store.watchlists.add(
            WatchlistEntry(SightingKind.PLATE, "car", "case", "ann", 1.0, plate_pattern="桂B12345")
        )
        alert = store.alerts.add(Alert(entry, sid, "cam-a", 11.0, 0.9))
        assert store.alerts.acknowledge(alert, "bob", 12.0).acknowledged_by == "bob"
        assert store.alerts.acknowledge(alert, "eve", 13.0).acknowledged_at == 12.0
        assert store.alerts.acknowledge(alert + 1, "eve", 13.0) is None
        assert store.watchlists.delete(entry, "bob", 14.0) and store.watchlists.all() == []
        assert [a.id for a in store.alerts.latest()] == [alert]  # a deleted entry's alerts stay
        assert not store.watchlists.delete(entry, "bob", 15.0)

        with pytest.raises(CameraInUseError, match="still has sightings"):
            store.cameras.delete("cam-a")
        store.cameras.save(Camera("cam-z", "Z", "rtsp://z"))
        assert store.cameras.delete("cam-z") and not store.cameras.delete("cam-z")
        assert "cam-z" not in {c.id for c in store.cameras.all()}


@pytest.mark.parametrize("mode", list(PlateMode))
def test_plate_search_filters(tmp_path: Path, database_url: str | None, mode: PlateMode) -> None:  # noqa: F811
    query = "桂B12*45" if mode is PlateMode.WILDCARD else "桂B12345"
    with open_catalog(tmp_path, database_url) as catalog:
        a, b, _ = catalog.add_sightings(
            [plate(100.0, "桂B12345", "cam-a"), plate(200.0, "桂B12345", "cam-b"), plate(300.0, "桂B12345", "cam-c")]
        )
        store = catalog.store

        def ids(**filters) -> set[int]:
            return {h.sighting_id for h in store.plates.search(query, mode, **filters)}

        assert len(ids()) == 3
        assert ids(since=150.0, until=250.0) == {b}
        assert ids(cameras=["cam-a", "cam-b"], until=150.0) == {a}
        assert ids(cameras=[]) == set()


@pytest.fixture
def outbox(tmp_path: Path, database_url: str | None):  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        yield catalog.store.outbox


def test_store_outbox_survives_a_restart(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        outbox = catalog.store.outbox
        kept = outbox.enqueue("siem", b'{"alert": 1}', now=5.0)
        given_up = outbox.enqueue("siem", b"x", now=5.0)
        outbox.claim(6.0, 10, 30.0)
        outbox.mark_failed(given_up, "HTTP 500", None)
    with open_catalog(tmp_path, database_url) as catalog:
        outbox = catalog.store.outbox
        assert outbox.next_due() == 36.0
        (again,) = outbox.claim(40.0, 10, 30.0)
        assert (again.id, again.body, again.attempts) == (kept, b'{"alert": 1}', 2)
        failed = outbox.get(given_up)
        assert failed.state is DeliveryState.FAILED and failed.last_error == "HTTP 500"


def test_store_outbox_keeps_every_channel_as_its_delivery_log(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        sms = catalog.store.outbox.for_channel(Channel.SMS)
        sent = sms.enqueue("+8613800000001", "桂B12345".encode(), now=5.0)
        sms.claim(6.0, 10, 30.0)
        sms.mark_done(sent, now=6.5)
    with open_catalog(tmp_path, database_url) as catalog:
        (row,) = catalog.store.outbox.for_channel(Channel.SMS).deliveries()
        assert (row.id, row.target, row.body.decode(), row.state, row.attempts, row.delivered_at) == (
            sent,
            "+8613800000001",
            "桂B12345",
            DeliveryState.DONE,
            1,
            6.5,
        )
        assert catalog.store.outbox.deliveries() == [] and catalog.store.outbox.next_due() is None


def test_watchlist_entries_keep_their_recipients(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        recipients = ("+86 138-0000-0001", "officer@example.org", "+8613800000001")
        entry = WatchlistEntry(
            SightingKind.PLATE, "van", "case 1", "ann", 1.0, plate_pattern="桂B*", recipients=recipients
        )
        entry_id = store.watchlists.add(entry)
        bare = store.watchlists.add(
            WatchlistEntry(SightingKind.PLATE, "car", "case 2", "ann", 1.0, plate_pattern="粤A*")
        )
        with pytest.raises(InvalidSightingError, match="'call me' is neither a phone number"):
            store.watchlists.add(
                WatchlistEntry(SightingKind.PLATE, "x", "y", "ann", 1.0, plate_pattern="桂A*", recipients=("call me",))
            )
        kept = {e.id: e.recipients for e in store.watchlists.all()}
        # normalised and each once; the refused entry was not stored
        assert kept == {entry_id: ("+8613800000001", "officer@example.org"), bare: ()}
