"""The demo camera ``skynet serve`` sets up on an empty store: a generated street clip played in a
loop, and a watch-list entry for one of its plates, so sightings, search and alerts show at once."""

from __future__ import annotations

import time

from skynet.config import Settings
from skynet.records import AuditEvent, Camera, SightingKind, WatchlistEntry
from skynet.store import Store
from skynet.synthetic import DEMO_PLATES, write_demo_clip

DEMO_CAMERA_ID = "demo"
DEMO_ACTOR = "skynet-demo"
DEMO_WATCH_DAYS = 7


def set_up_demo(settings: Settings, store: Store) -> Camera:
    """Create the demo clip, camera and watch-list entry (each only once); returns the camera."""
    clip = settings.demo_dir / "street.avi"
    if not clip.is_file():
        clip.parent.mkdir(parents=True, exist_ok=True)
        write_demo_clip(clip)
    camera = Camera(DEMO_CAMERA_ID, "Demo street (generated clip)", str(clip), 22.8170, 108.3665, ("demo",))
    store.cameras.save(camera)
    if not any(entry.added_by == DEMO_ACTOR for entry in store.watchlists.all()):
        now = time.time()
        entry = WatchlistEntry(
            SightingKind.PLATE,
            f"demo: {DEMO_PLATES[0]}",
            "demo: shows how alerts work",
            DEMO_ACTOR,
            now,
            expires_at=now + DEMO_WATCH_DAYS * 86400,
            plate_pattern=DEMO_PLATES[0],
        )
        entry_id = store.watchlists.add(entry)
        store.audit.append(
            AuditEvent(
                now,
                DEMO_ACTOR,
                "watchlist.add",
                entry.reason,
                {"entry_id": entry_id, "plate_pattern": entry.plate_pattern},
            )
        )
    return camera
