"""Retention deletes old sightings for real: rows, plate reads, vectors, thumbnails, context frames."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from store_support import database_url, face, media, open_catalog, plate  # noqa: F401 (fixture)
from typer.testing import CliRunner

from skynet.cli import _register_commands, app
from skynet.config import Settings
from skynet.errors import ConfigError
from skynet.index.catalog import Catalog
from skynet.index.retention import apply_retention, parse_age, run_retention_policy
from skynet.store.plates import PlateMode

DAY = 86400.0
NOW = 100 * DAY


def _populate(catalog) -> None:
    """Ten face and ten plate sightings per day over days 60..99, each with a thumbnail and context."""
    rng = np.random.default_rng(0)
    for day in range(60, 100):
        faces = [face(day * DAY + i, rng.standard_normal(128).astype(np.float32)) for i in range(10)]
        plates = [plate(day * DAY + i, f"桂B{day:02d}{i:03d}") for i in range(10)]
        catalog.add_sightings(faces + plates, [media(i) for i in range(20)])


def _files(root) -> int:
    return sum(1 for d in ("thumbnails", "context") for p in (root / d).glob("*/*.jpg"))


def test_retention_deletes_rows_vectors_and_files(database_url, tmp_path):
    with open_catalog(tmp_path, database_url) as catalog:
        _populate(catalog)
        assert _files(tmp_path) == 40 * 20 * 2
        report = apply_retention(catalog, 30 * DAY, now=NOW)
        assert (report.sightings, report.face_vectors, report.files) == (10 * 20, 10 * 10, 10 * 20 * 2)
        assert catalog.store.sightings.counts() == {"face": 300, "plate": 300, "identity": 0}
        assert catalog.faces.status().vectors == 300
        assert all(catalog.store.sightings.get(i) is None for i in range(1, 201))
        assert catalog.store.plates.search("桂B60*", PlateMode.WILDCARD) == []
        assert len(catalog.store.plates.search("桂B70*", PlateMode.WILDCARD)) == 10
        assert catalog.store.audit.events(1)[0].detail["sightings"] == 200
        assert catalog.store.db.execute("SELECT count(*) FROM plate_reads").fetchone()[0] == 300
    assert _files(tmp_path) == 30 * 20 * 2
    with Catalog.open(tmp_path, database_url) as catalog:  # the saved index agrees with the store
        assert catalog.faces.status().vectors == 300 and catalog.store.integrity_problems() == []


def test_cli_retention(tmp_path):
    with open_catalog(tmp_path) as catalog:
        catalog.add_sightings([face(1.0, np.ones(128, np.float32)), plate(2.0, "粤A12345")], [media(1), None])
    _register_commands()
    args = ["retention", "--older-than", "30d", "--reason", "policy 2026-3", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "deleted 2 sightings" in result.output and "1 face vectors, 2 media files" in result.output
    status = CliRunner().invoke(app, ["index", "status", "--data-dir", str(tmp_path)])
    assert "sightings: 0 face, 0 plate" in status.output and "store health: ok" in status.output


def test_policy_runs_until_stopped(tmp_path):
    settings = Settings(data_dir=tmp_path, retention_days=30, retention_interval_s=0.05)
    with open_catalog(tmp_path) as catalog:
        catalog.add_sightings([face(1.0, np.ones(128, np.float32))])
        stop = threading.Event()
        worker = threading.Thread(target=run_retention_policy, args=(catalog, settings, stop))
        worker.start()
        stop.wait(0.3)
        stop.set()
        worker.join(timeout=5)
        assert not worker.is_alive()
        assert catalog.store.sightings.counts()["face"] == 0
        assert len([e for e in catalog.store.audit.events() if e.action == "retention.delete"]) >= 2


@pytest.mark.parametrize("text, seconds", [("30d", 30 * DAY), ("12h", 43200), ("2w", 14 * DAY), ("1.5m", 90)])
def test_parse_age(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "-3d", "0d", "3 days", "1e9d"])
def test_parse_age_refuses_nonsense(text):
    with pytest.raises(ConfigError):
        parse_age(text)


def test_delete_file_sightings_before_reindexing(database_url, tmp_path):
    from skynet.records import Origin

    with open_catalog(tmp_path, database_url) as catalog:

        def from_file(sighting, path):
            object.__setattr__(sighting, "origin", Origin("archive", path, 1.0))
            return sighting

        rng = np.random.default_rng(1)
        catalog.add_sightings(
            [
                from_file(face(1.0, rng.standard_normal(128).astype(np.float32)), "/a.mp4"),
                from_file(plate(2.0, "粤A12345"), "/a.mp4"),
                from_file(face(3.0, rng.standard_normal(128).astype(np.float32)), "/b.mp4"),
                face(4.0, rng.standard_normal(128).astype(np.float32)),
            ],
            [media(1), None, None, None],
        )
        deleted = catalog.delete_file_sightings("/a.mp4")
        assert (len(deleted.ids), len(deleted.face_ids), deleted.files) == (2, 1, 2)
        assert catalog.store.sightings.counts() == {"face": 2, "plate": 0, "identity": 0}
        assert catalog.faces.status().vectors == 2
