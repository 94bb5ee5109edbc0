"""kill -9 at random moments while sightings are written: store and face index stay consistent."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skynet.index.catalog import Catalog

TESTS = Path(__file__).resolve().parent
KILLS = 15
WRITER = """
import sys, numpy as np
sys.path.insert(0, sys.argv[2])
from store_support import face, plate, media, open_catalog
catalog = open_catalog(sys.argv[1], approx_threshold=400, autosave_every=60, exact_subset=50)
rng = np.random.default_rng(int(sys.argv[3]))
print("ready", flush=True)
t = float(catalog.store.sightings.counts()["face"])
while True:
    faces = [face(t + i, rng.standard_normal(128).astype(np.float32)) for i in range(20)]
    plates = [plate(t + i, "桂B%05d" % rng.integers(0, 99999)) for i in range(5)]
    catalog.add_sightings(faces + plates, [media(i) if i % 2 else None for i in range(25)])
    if rng.random() < 0.2:
        catalog.delete_before(t - 200)
    t += 20
"""


def _check(data_dir: Path) -> int:
    with Catalog.open(data_dir) as catalog:
        assert catalog.store.integrity_problems() == []
        store_ids = catalog.store.faces.ids()
        np.testing.assert_array_equal(catalog.faces.ids(), store_ids)
        referenced = {
            r[0]
            for r in catalog.store.db.execute(
                "SELECT thumbnail_path FROM sightings WHERE thumbnail_path IS NOT NULL "
                "UNION ALL SELECT context_path FROM sightings WHERE context_path IS NOT NULL"
            )
        }
        on_disk = {
            p.relative_to(data_dir).as_posix() for d in ("thumbnails", "context") for p in (data_dir / d).glob("*/*")
        }
        assert on_disk == referenced  # no orphan files (swept at open), no rows without files
        if len(store_ids):
            probe = int(store_ids[-1])
            assert catalog.search_faces(catalog.store.faces.vector(probe), 1)[0].sighting_id == probe
        return sum(catalog.store.sightings.counts().values())


@pytest.mark.slow
def test_kill_9_mid_write_many_times(tmp_path):
    rng = random.Random(1)
    totals = []
    for kills in range(KILLS):  # a fixed number of kills, however slow the machine
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(TESTS), str(kills)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        time.sleep(rng.uniform(0.02, 0.4))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert writer.returncode == -signal.SIGKILL, writer.stderr.read()
        totals.append(_check(tmp_path))
    assert totals[-1] > 0 and len(set(totals)) > 1  # the writers made progress between kills
