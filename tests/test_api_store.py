"""The store's service tables on both backends: users and tokens, jobs, alert acknowledgement,
watch-list and camera deletion, plate search filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_support import database_url, open_catalog, plate  # noqa: F401 (fixture)

# The webhook outbox in the store is held to the DeliveryOutbox contract tests, collected here again
# with this module's ``outbox`` fixture (both backends).
from test_alerts_outbox import (  # noqa: F401
    test_a_claimed_delivery_is_leased_and_comes_back_when_the_lease_ends,
    test_claim_takes_due_deliveries_earliest_first_up_to_the_limit,
    test_done_deliveries_are_never_claimed_again,
    test_failed_attempts_are_rescheduled_or_given_up,
)

from skynet.accounts.errors import UserExistsError
from skynet.accounts.model import ApiToken, Role, User
from skynet.alerts.outbox import DeliveryState
from skynet.index.errors import CameraInUseError
from skynet.index.sql_store import StoreOutbox
from skynet.index.store import Job, PlateMode
from skynet.records import Alert, Camera, SightingKind, WatchlistEntry


def test_users_and_tokens(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        user = store.add_user(User("ann", Role.INVESTIGATOR, 1.0, "scrypt$hash"))
        assert user.id is not None and store.get_user("ann") == user
        with pytest.raises(UserExistsError, match="already exists"):
            store.add_user(User("ann", Role.ADMIN, 2.0))
        token = store.add_token(ApiToken("h" * 64, "ann", 1.0, 100.0, "cli"))
        assert store.find_token("h" * 64) == token and store.find_token("x") is None
        assert [u.name for u in store.users()] == ["ann"]
        assert store.revoke_token("h" * 64) and not store.revoke_token("h" * 64)
        assert store.find_token("h" * 64) is None


def test_jobs_alerts_watchlist_cameras(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        job_id = store.add_job(Job("reindex", "ann", 1.0, 1.0, "queued", {"paths": ["/a"]}, {"files_total": 1}))
        store.update_job(Job("reindex", "ann", 1.0, 2.0, "done", {"paths": ["/a"]}, {"files_done": 1}, ("x",), job_id))
        assert store.get_job(job_id) == Job(
            "reindex", "ann", 1.0, 2.0, "done", {"paths": ["/a"]}, {"files_done": 1}, ("x",), job_id
        )
        assert store.get_job(job_id + 1) is None
        running = store.add_job(Job("reindex", "ann", 3.0, 3.0, "running"))
        assert store.fail_unfinished_jobs(4.0) == 1
        interrupted = store.get_job(running)
        assert interrupted.state == "failed" and "interrupted" in interrupted.errors[0]
        assert store.get_job(job_id).state == "done"
        assert [j.id for j in store.jobs()] == [running, job_id]
        assert [j.id for j in store.jobs(state="done")] == [job_id] and len(store.jobs(limit=1)) == 1

        [sid] = catalog.add_sightings([plate(10.0, "桂B12345", "cam-a")])
        entry = store.add_watchlist_entry(
            WatchlistEntry(SightingKind.PLATE, "car", "case", "ann", 1.0, plate_pattern="桂B12345")
        )
        alert = store.add_alert(Alert(entry, sid, "cam-a", 11.0, 0.9))
        assert store.acknowledge_alert(alert, "bob", 12.0).acknowledged_by == "bob"
        assert store.acknowledge_alert(alert, "eve", 13.0).acknowledged_at == 12.0
        assert store.acknowledge_alert(alert + 1, "eve", 13.0) is None
        assert store.delete_watchlist_entry(entry) and store.alerts() == []
        assert not store.delete_watchlist_entry(entry)

        with pytest.raises(CameraInUseError, match="still has sightings"):
            store.delete_camera("cam-a")
        store.add_camera(Camera("cam-z", "Z", "rtsp://z"))
        assert store.delete_camera("cam-z") and not store.delete_camera("cam-z")
        assert "cam-z" not in {c.id for c in store.cameras()}


@pytest.mark.parametrize("mode", list(PlateMode))
def test_plate_search_filters(tmp_path: Path, database_url: str | None, mode: PlateMode) -> None:  # noqa: F811
    query = "桂B12*45" if mode is PlateMode.WILDCARD else "桂B12345"
    with open_catalog(tmp_path, database_url) as catalog:
        a, b, _ = catalog.add_sightings(
            [plate(100.0, "桂B12345", "cam-a"), plate(200.0, "桂B12345", "cam-b"), plate(300.0, "桂B12345", "cam-c")]
        )
        store = catalog.store

        def ids(**filters) -> set[int]:
            return {h.sighting_id for h in store.search_plates(query, mode, **filters)}

        assert len(ids()) == 3
        assert ids(since=150.0, until=250.0) == {b}
        assert ids(cameras=["cam-a", "cam-b"], until=150.0) == {a}
        assert ids(cameras=[]) == set()


@pytest.fixture
def outbox(tmp_path: Path, database_url: str | None):  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        yield StoreOutbox(catalog.store)


def test_store_outbox_survives_a_restart(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        outbox = StoreOutbox(catalog.store)
        kept = outbox.enqueue("siem", b'{"alert": 1}', now=5.0)
        given_up = outbox.enqueue("siem", b"x", now=5.0)
        outbox.claim(6.0, 10, 30.0)
        outbox.mark_failed(given_up, "HTTP 500", None)
    with open_catalog(tmp_path, database_url) as catalog:
        outbox = StoreOutbox(catalog.store)
        assert outbox.next_due() == 36.0
        (again,) = outbox.claim(40.0, 10, 30.0)
        assert (again.id, again.body, again.attempts) == (kept, b'{"alert": 1}', 2)
        failed = outbox.get(given_up)
        assert failed.state is DeliveryState.FAILED and failed.last_error == "HTTP 500"
