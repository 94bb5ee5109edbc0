"""The web UI end to end, in real headless Chromium (Debian ``chromium``, driven by Playwright) against a real
``skynet serve`` with the demo camera and face sightings of real people: signing in and out, the live wall
with a camera online and a live alert, face search by a dropped photo, plate search, a trajectory with an
implausible move, and management. Screenshots go to $SKYNET_SCREENSHOTS (default: a temporary folder)."""

from __future__ import annotations

import base64
import json
import os
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from servers import CHROMIUM
from tls_support import self_signed
from ui_support import OTHERS, PASSWORD, USERS, Person, seed, serve
from waiting import wait_for

from skynet.records import Alert, Box, Job, JobState, PlateText, Sighting, SightingKind
from skynet.store import open_store

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the requires("chromium") mark below fails or skips every test, saying so
    pass
pytestmark = [pytest.mark.models, pytest.mark.slow, pytest.mark.requires("chromium")]

DEMO_PLATE = "桂B12345"
SIGHTING_WAIT_S = 60  # the demo clip shows its first plate within seconds; the machine may be busy


@dataclass(frozen=True)
class Site:
    base: str
    person: Person
    data_dir: Path
    shots: Path

    def shot(self, page, name: str) -> None:
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory, analyzer, model_settings, shared_data):
    data_dir = tmp_path_factory.mktemp("ui-data")
    person = seed(data_dir, analyzer, shared_data("faces_identities"))
    shots = Path(os.environ.get("SKYNET_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with serve(data_dir, model_settings.models_path) as base:
        yield Site(base, person, data_dir, shots)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=site.base)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def sign_in(page, user: str) -> None:
    page.goto("/")
    page.fill("form[name=login] input[name=user]", user)
    page.fill("form[name=login] input[name=password]", PASSWORD)
    page.click("form[name=login] button[type=submit]")
    expect(page.locator(".who")).to_have_text(f"{user} · {USERS[user].value}")


def drop_photo(page, selector: str, photo: Path) -> None:
    """Drops ``photo`` on the element as a drag and drop from the desktop would."""
    page.evaluate(
        """([selector, name, data]) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
        document.querySelector(selector).dispatchEvent(
            new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }""",
        [selector, photo.name, base64.b64encode(photo.read_bytes()).decode()],
    )


def wait_for_plate_sighting(site: Site) -> None:
    """Waits until the demo camera has stored a sighting of the watched plate (over the API)."""
    token = httpx.post(f"{site.base}/api/login", json={"user": "chief", "password": PASSWORD}).json()["token"]
    wait_for(
        lambda: httpx.get(
            f"{site.base}/api/search/plate",
            headers={"Authorization": f"Bearer {token}"},
            params={"q": DEMO_PLATE, "mode": "exact", "reason": "ui test: waiting"},
        ).json()["results"],
        SIGHTING_WAIT_S,
        f"the demo camera to store a sighting of {DEMO_PLATE}",
        interval_s=1,
    )


def test_sign_in_and_see_the_cameras(page, site):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/ui/$"))
    page.fill("form[name=login] input[name=user]", "chief")
    page.fill("form[name=login] input[name=password]", "not the password")
    page.click("form[name=login] button[type=submit]")
    expect(page.locator(".login .error")).to_contain_text("wrong user name or password")

    sign_in(page, "chief")
    demo = page.locator(".camera-tile[data-camera-id=demo]")
    expect(demo.locator(".badge")).to_have_text("online", timeout=30_000)
    expect(demo.locator(".preview img.live")).to_be_visible(timeout=30_000)  # a frame of the live MJPEG stream
    assert page.evaluate("document.querySelector('[data-camera-id=demo] img').naturalWidth") == 960
    gate = page.locator(".camera-tile[data-camera-id=gate-north] .badge")
    expect(gate).to_have_text(re.compile("connecting|reconnecting|offline"), timeout=15_000)
    expect(page.locator(".live-state")).to_have_text("live: connected")
    site.shot(page, "wall")


def test_face_search_by_dropped_photo(page, site):
    sign_in(page, "ivy")
    page.click("nav a[data-page=investigate]")
    page.fill("input[name=reason]", "case 2026-7 face")
    drop_photo(page, "form[name=face-search] .dropzone", site.person.query_photo)
    expect(page.locator("form[name=face-search] .drop-preview img")).to_have_count(1)
    page.fill("input[name=min_similarity]", "0.85")
    page.click("form[name=face-search] button[type=submit]")
    tiles = page.locator(".results .tile")
    expect(page.locator(".results h3")).to_contain_text("sighting(s) of the face in")
    found = {int(i) for i in tiles.evaluate_all("ts => ts.map(t => t.dataset.sightingId)")}
    assert found == set(site.person.sighting_ids)  # every sighting of the person, and no one else
    expect(page.locator(".results .partial")).to_have_count(0)  # complete: no banner
    site.shot(page, "face-search")

    # an answer the index could not complete (a lost index shard, a partition being rebuilt) says so, with the range
    def partial(route) -> None:
        answer = route.fetch().json()
        answer["incomplete"] = [{"since": 1767225600.0, "until": 1767830400.0}]
        route.fulfill(json=answer)

    page.route("**/api/search/face", partial)
    page.click("form[name=face-search] button[type=submit]")
    expect(page.locator(".results .partial")).to_contain_text(
        "Partial results: the face index could not search 2026-01-"
    )
    expect(tiles).to_have_count(len(site.person.sighting_ids))
    page.unroute("**/api/search/face")

    tiles.first.click()
    expect(page.locator("dialog .frame img")).to_have_js_property("complete", True)
    expect(page.locator("dialog .frame svg.overlay rect")).to_have_count(1)  # the face's box on the frame
    site.shot(page, "context-frame")

    page.click("dialog button:text('Trajectory')")
    expect(page.locator(".timeline .stop")).to_have_count(3)
    expect(page.locator(".timeline .stop strong")).to_have_text(["North gate", "East bridge", "Far station"])
    expect(page.locator("svg.map .stop-mark")).to_have_count(3)
    expect(page.locator("svg.map .move.implausible")).to_have_count(1)  # 30 km in 5 minutes
    expect(page.locator(".timeline .move.implausible")).to_contain_text("implausible")
    expect(page.locator(".summary .badge")).to_have_text("1 implausible move(s)")
    site.shot(page, "trajectory-face")

    # a stop's context frame: the sighting read with the query's reason, its image through its signed link
    page.locator(".timeline .stop img").first.click()
    page.wait_for_function("() => document.querySelector('dialog .frame img')?.naturalWidth > 0")
    expect(page.locator("dialog .frame svg.overlay rect")).to_have_count(1)


def test_plate_search_and_trajectory(page, site):
    wait_for_plate_sighting(site)
    sign_in(page, "ivy")
    page.click("nav a[data-page=investigate]")
    page.fill("input[name=reason]", "case 2026-7 plate")
    page.fill("input[name=plate]", "***")
    page.select_option("select[name=mode]", "wildcard")
    page.click("form[name=plate-search] button[type=submit]")
    expect(page.locator(".form-errors .error")).to_contain_text("too broad")  # the API's message, shown

    page.fill("input[name=plate]", "桂B*45")
    page.click("form[name=plate-search] button[type=submit]")
    expect(page.locator(".results .tile").first).to_contain_text(DEMO_PLATE)
    expect(page.locator(".form-errors .error")).to_have_count(0)
    site.shot(page, "plate-search")

    page.goto(f"/ui/#/trajectory?plate={DEMO_PLATE}")
    expect(page.locator(".timeline .stop").first).to_contain_text("Demo street")
    expect(page.locator("svg.map .camera-mark")).to_have_count(4)
    site.shot(page, "trajectory-plate")

    with page.expect_download() as saved:
        page.click("form[name=export] button[type=submit]")
    expect(page.locator("form[name=export]")).to_contain_text("saved skynet-export-")
    with zipfile.ZipFile(saved.value.path()) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert "trajectory.geojson" in archive.namelist()
        assert DEMO_PLATE in archive.read("sightings.csv").decode()
    assert manifest["reason"] == "case 2026-7 plate" and manifest["created_by"] == "ivy"


def test_sightings_page_shows_a_cameras_hours_and_thumbnails(page, site):
    sign_in(page, "ivy")
    page.click("nav a[data-page=sightings]")
    page.fill("form[name=browse] input[name=reason]", "case 2026-9 browse")
    page.select_option("form[name=browse] select[name=camera]", "gate-north")
    page.click("form[name=browse] button[type=submit]")
    bars = page.locator(".hour-bars .hour-bar")
    expect(bars.first).to_be_visible()
    tiles = page.locator(".browse .grid .tile")
    expect(tiles.first).to_contain_text("North gate")
    seen = tiles.count()
    assert seen == OTHERS + 1  # the person's visit and the other people at the gate
    bars.last.click()  # the newest hour only
    expect(tiles.first).to_contain_text("North gate")
    assert 1 <= tiles.count() <= seen
    site.shot(page, "sightings")


def test_live_alert_reaches_an_operator(page, site):
    sign_in(page, "otto")
    # an operator may not search, but imports feeds
    expect(page.locator("nav a")).to_have_text(["Live wall", "Feeds", "Manage"])
    fresh = page.locator(".alert-feed .alert-item.fresh").first  # pushed over /api/live, not loaded
    expect(fresh).to_contain_text(f"demo: {DEMO_PLATE}", timeout=60_000)
    expect(page.locator(".toast.alert")).to_contain_text("Alert: demo")
    expect(page.locator(".alert-count")).not_to_have_text("0")
    expect(fresh.locator("img.thumb")).to_have_js_property("complete", True)
    page.wait_for_function("() => document.querySelector('.alert-item.fresh img.thumb')?.naturalWidth > 0")
    site.shot(page, "alert")
    expect(fresh).to_contain_text("read confidence")  # a plate alert's score is its read's calibrated confidence
    fresh.locator("img.thumb").click()  # the alert's context frame, through the link the alert carries
    page.wait_for_function("() => document.querySelector('dialog .frame img')?.naturalWidth > 0")
    page.keyboard.press("Escape")
    fresh.locator("button:text('Acknowledge')").click()
    page.locator("dialog input[name=reason]").fill("duty log 2026-12")
    page.click("dialog button:text('Confirm')")
    expect(page.locator(".alert-feed .alert-item").first).to_contain_text("acknowledged by otto")

    # acknowledge all (enabled once the demo car's next pass is alerted): asks for the reason, which is audited
    everything = page.locator("button[name=acknowledge-all]")
    expect(everything).to_be_enabled(timeout=90_000)  # the demo clip loops every 24 s
    everything.click()
    page.fill("dialog input[name=reason]", "end of shift 7")
    page.click("dialog button[type=submit]")
    expect(page.locator(".toast").last).to_contain_text("alert(s) acknowledged")
    token = httpx.post(f"{site.base}/api/login", json={"user": "chief", "password": PASSWORD}).json()["token"]
    audit = httpx.get(f"{site.base}/api/audit", headers={"Authorization": f"Bearer {token}"}).json()
    assert [e["reason"] for e in audit if e["action"] == "alert.ack_all" and e["actor"] == "otto"] == ["end of shift 7"]

    # another operator acknowledges a listed alert: shown at once (by whom), not listed twice, no reload
    store = open_store(site.data_dir)
    last = store.alerts.latest(1)[0]
    alert_id = store.alerts.add(Alert(last.entry_id, last.sighting_id, last.camera_id, time.time(), last.score))
    store.close()
    page.reload()
    listed = page.locator(f".alert-feed .alert-item[data-alert-id='{alert_id}']")
    expect(listed.locator("button:text('Acknowledge')")).to_be_visible()
    acked = httpx.post(
        f"{site.base}/api/alerts/{alert_id}/ack",
        json={"reason": "seen at desk 2"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert acked.status_code == 200, acked.text
    expect(listed).to_contain_text("acknowledged by chief", timeout=5_000)
    expect(listed).to_have_count(1)


def test_management_and_sign_out(page, site):
    sign_in(page, "chief")
    page.click("nav a[data-page=manage]")
    expect(page.locator(".tabs a")).to_have_text(["Watch-list", "Cameras", "Re-index jobs", "Users", "Audit log"])
    expect(page.locator("table.data")).to_contain_text(f"plate {DEMO_PLATE}")
    form = page.locator("form[name=watchlist-add]")
    form.locator("input[name=label]").fill("stolen van")
    form.locator("input[name=reason]").fill("case 2026-8")
    form.locator("input[name=pattern]").fill("粤B*77")
    form.locator("button[type=submit]").click()
    expect(page.locator("table.data")).to_contain_text("plate 粤B*77")
    site.shot(page, "manage-watchlist")

    page.click(".tabs a:text('Re-index jobs')")
    jobs = page.locator("form[name=reindex]")
    jobs.locator("textarea[name=paths]").fill("/no/such/archive.mp4")
    jobs.locator("input[name=reason]").fill("case 2026-8 archive")
    jobs.locator("button[type=submit]").click()
    expect(jobs.locator(".error")).to_contain_text("not inside an archive root")
    jobs.locator("textarea[name=paths]").fill(str(site.data_dir / "archive"))
    jobs.locator("select[name=camera]").select_option("gate-north")
    jobs.locator("button[type=submit]").click()
    expect(page.locator(".job .badge")).to_have_text("done", timeout=60_000)
    expect(page.locator(".job")).to_contain_text("1 of 1 file(s)")
    expect(page.locator(".job button[name=cancel]")).to_have_count(0)  # finished: nothing to cancel
    site.shot(page, "manage-jobs")

    with open_store(site.data_dir) as store:  # a job queued on another API node: cancelled here, with a reason
        queued = store.jobs.add(Job("reindex", "otto", time.time(), time.time(), JobState.QUEUED))
    page.click(".tabs a:text('Users')")
    page.click(".tabs a:text('Re-index jobs')")  # the list again, with it
    card = page.locator(f".job[data-job-id='{queued}']")
    card.locator("button[name=cancel]").click()
    page.fill("dialog input[name=reason]", "case 2026-8 wrong folder")
    page.click("dialog button[type=submit]")
    expect(card.locator(".badge")).to_have_text("cancelled")
    expect(card.locator("button[name=cancel]")).to_have_count(0)

    page.click(".tabs a:text('Audit log')")
    expect(page.locator("table.audit")).to_contain_text("case 2026-8")
    expect(page.locator("table.audit")).to_contain_text("case 2026-8 wrong folder")  # the cancellation's reason
    site.shot(page, "manage-audit")

    page.click(".tabs a:text('Users')")
    form = page.locator("form[name=user-create]")
    form.locator("input[name=name]").fill("vera")
    form.locator("input[name=reason]").fill("new analyst, case 2026-9")
    form.locator("button[type=submit]").click()
    issued = page.locator("dialog code.token")
    expect(issued).to_have_text(re.compile(r"^skynet_"))
    vera_token = issued.inner_text()
    expect(page.locator("table.data tr[data-user=vera]")).to_contain_text("investigator")
    site.shot(page, "manage-users")
    page.click("dialog .close")

    token = page.evaluate("JSON.parse(sessionStorage.getItem('skynet.session')).token")
    page.click("button[name=logout]")
    expect(page.locator("form[name=login]")).to_be_visible()
    assert httpx.get(f"{site.base}/api/cameras", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    page.click(".token-login summary")  # the token printed by `skynet users token` (or shown above) signs in too
    page.fill("input[name=token]", vera_token)
    page.click("form[name=token-login] button[type=submit]")
    expect(page.locator(".who")).to_have_text("vera · investigator")


def test_api_reference_is_served_locally_and_shown_to_a_signed_in_user(page, site):
    requested: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.goto("/docs")
    expect(page.locator("#docs-sign-in")).to_be_visible()  # no session in this tab: the page asks for a token
    expect(page.locator(".opblock")).to_have_count(0)
    sign_in(page, "chief")
    page.goto("/docs")
    operation = page.locator(".opblock", has=page.locator("[data-path='/api/cameras']")).filter(has_text="GET").first
    expect(operation).to_be_visible(timeout=30_000)
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()  # sent with the session's token
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    site.shot(page, "api-docs")
    assert [url for url in requested if not url.startswith((site.base, f"blob:{site.base}", "data:"))] == []
    assert console_errors == []


def test_a_request_cut_by_leaving_the_page_rejects_instead_of_answering_null(page, site):
    """Leaving a page aborts its requests; one aborted while its body is read must reject with the AbortError
    (which the pages ignore), not resolve to null, which a page then reads as a list (a flaky "Cannot read
    properties of null" when a test or a user clicks on before a list has loaded)."""
    page.goto("/ui/")
    outcome = page.evaluate("""async () => {
        const { request } = await import("/ui/js/api.js");
        const browserFetch = window.fetch;
        const left = new AbortController();
        window.fetch = async (url, init) => {  // the user leaves once the answer's headers are in
            const response = await browserFetch(url, init);
            left.abort();
            return response;
        };
        try {
            return `resolved to ${JSON.stringify(await request("GET", "/api/health", { signal: left.signal }))}`;
        } catch (error) {
            return error.name;
        } finally {
            window.fetch = browserFetch;
        }
    }""")
    assert outcome == "AbortError"


def test_preview_parts_are_split_whatever_the_chunking(page, site):
    """The MJPEG reader finds each JPEG however the network cuts the stream (here: 1 to 7 bytes a chunk)."""
    page.goto("/ui/")
    bodies = page.evaluate("""async () => {
        const { PartReader } = await import("/ui/js/mjpeg.js");
        const part = (body) => `--skynetframe\\r\\nContent-Type: image/jpeg\\r\\nContent-Length: ${body.length}\\r\\n\\r\\n${body}\\r\\n`;
        const bytes = new TextEncoder().encode(part("first\\r\\n\\r\\nframe") + part("") + part("third"));
        const reader = new PartReader();
        const found = [];
        for (let i = 0, size = 1; i < bytes.length; i += size, size = size % 7 + 1) {
            found.push(...reader.push(bytes.subarray(i, i + size)));
        }
        return found.map((b) => new TextDecoder().decode(b));
    }""")
    assert bodies == ["first\r\n\r\nframe", "", "third"]


def test_camera_tls_settings_in_the_camera_form(page, site, tmp_path):
    ca_file = self_signed(tmp_path / "door").cert
    sign_in(page, "chief")
    page.click("nav a[data-page=manage]")
    page.click(".tabs a:text('Cameras')")
    form = page.locator("form[name=camera-form]")
    form.locator("input[name=id]").fill("tls-door")
    form.locator("input[name=name]").fill("Door (HTTPS)")
    form.locator("input[name=source_url]").fill("https://viewer:pw123@127.0.0.1:9/video.mjpg")
    form.locator("input[name=tls_ca_file]").fill(str(tmp_path / "missing.pem"))
    form.locator("input[name=reason]").fill("new door camera")
    form.locator("button[type=submit]").click()
    expect(form.locator(".error")).to_contain_text("does not exist")
    form.locator("input[name=tls_ca_file]").fill(str(ca_file))
    form.locator("button[type=submit]").click()
    row = page.locator("tr[data-camera-id=tls-door]")
    expect(row).to_contain_text(f"CA file {ca_file}")
    row.locator("button:text('Edit')").click()
    expect(form.locator("input[name=tls_ca_file]")).to_have_value(str(ca_file))
    form.locator("input[name=tls_verify]").uncheck()
    form.locator("input[name=reason]").fill("door camera has a self-signed certificate")
    form.locator("button[type=submit]").click()
    expect(row).to_contain_text("TLS certificate not verified")
    site.shot(page, "manage-cameras-tls")
    row.locator("button:text('Remove')").click()
    page.locator("dialog input[name=reason]").fill("door camera replaced")
    page.click("dialog button:text('Confirm')")
    expect(row).to_have_count(0)


def test_an_admin_grants_an_analysis_and_the_investigator_finds_a_cloned_plate(page, site):
    store = open_store(site.data_dir)  # the server's store: two passes of one plate 30 km apart, a minute between
    now = time.time()
    read = PlateText("粤Z99999", (0.95,) * 7)
    store.sightings.add(
        [
            Sighting(camera, SightingKind.PLATE, at - 2, at + 2, at, Box(0, 0, 90, 30), 0.9, plate=read)
            for camera, at in (("gate-north", now - 600), ("station-far", now - 540))
        ]
    )
    store.close()
    sign_in(page, "ivy")
    expect(page.locator("nav a[data-page=analyses]")).to_have_count(0)  # not granted yet
    page.click("button[name=logout]")

    sign_in(page, "chief")
    page.click("nav a[data-page=manage]")
    page.click(".tabs a:text('Users')")
    row = page.locator("tr[data-user=ivy]")
    row.locator("input[name=analyze_cloned_plates]").check()
    page.fill("dialog input[name=reason]", "analyst on case 2026-9")
    page.locator("dialog button[type=submit]").click()
    expect(page.locator("tr[data-user=ivy] input[name=analyze_cloned_plates]")).to_be_checked()
    page.click("button[name=logout]")

    sign_in(page, "ivy")
    page.click("nav a[data-page=analyses]")
    expect(page.locator("form[name=companions]")).to_have_count(0)  # only what was granted
    page.fill("input[name=reason]", "case 2026-9 cloned plates")
    start = time.strftime("%Y-%m-%dT%H:%M", time.localtime(now - 3600))
    page.fill("input[name=since]", start)
    page.fill("input[name=until]", time.strftime("%Y-%m-%dT%H:%M", time.localtime(now + 60)))
    page.click("form[name=cloned-plates] button[type=submit]")
    pair = page.locator(".results .pair").first
    expect(pair).to_contain_text("粤Z99999")
    expect(pair.locator(".tile")).to_have_count(2)
    site.shot(page, "analysis-cloned-plates")


def test_feeds_page_lists_registrations_and_an_admin_unmasks_an_identity_key(page, site):
    identity = "11010519491231002X"
    token = httpx.post(f"{site.base}/api/login", json={"user": "chief", "password": PASSWORD}).json()["token"]
    record = {
        "identity": identity,
        "name": "张三",
        "place": "Hotel Lotus",
        "latitude": 22.82,
        "longitude": 108.37,
        "time": time.time() - 60,
        "source": "hotel",
    }
    pushed = httpx.post(
        f"{site.base}/api/feeds/registrations", json={"records": [record]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert pushed.json()["added"] + pushed.json()["duplicates"] == 1
    sign_in(page, "chief")
    page.click("nav a[data-page=feeds]")
    expect(page.locator("form[name=feed-import]")).to_be_visible()
    page.fill("form[name=feed-records] input[name=reason]", "case 2026-12 feeds")
    page.select_option("form[name=feed-records] select[name=source]", "registration")
    page.click("form[name=feed-records] button[type=submit]")
    row = page.locator(".feed-records tr[data-sighting-id]").first
    expect(row.locator(".identity-key")).to_have_text("1101**********002X")
    row.locator("form[name=unmask] input[name=reason]").fill("case 2026-12 unmask")
    row.locator("form[name=unmask] button").click()
    expect(row.locator(".identity-key")).to_have_text(identity)
    site.shot(page, "feeds")
    audit = httpx.get(
        f"{site.base}/api/audit", params={"action": "identity.reveal"}, headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert audit[0]["reason"] == "case 2026-12 unmask" and audit[0]["actor"] == "chief"
