"""PNG plots of a scenario run (matplotlib, the ``bench`` extra): the face search precision-recall
curve, the alert latency histogram and one trajectory over the camera map."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def pr_curve(curve: list[tuple[float, float, float]], path: Path, threshold: float | None = None) -> Path:
    """Precision against recall over the similarity threshold; ``threshold`` is marked when given."""
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot([r for _, _, r in curve], [p for _, p, _ in curve], marker=".", markersize=3)
    at = min((c for c in curve if c[0] >= threshold), key=lambda c: c[0], default=None) if threshold else None
    if at is not None:
        axes.plot(at[2], at[1], "o", color="red", label=f"similarity {threshold:g}")
        axes.legend(loc="lower left")
    axes.set(
        xlabel="recall (visits of the queried people)",
        ylabel="precision (hits)",
        xlim=(0, 1.02),
        ylim=(0, 1.02),
        title="Face search by held-back photo",
    )
    axes.grid(alpha=0.3)
    return _save(figure, path)


def latency_histogram(latencies_s: list[float], path: Path, title: str) -> Path:
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.hist(latencies_s, bins=20, color="tab:orange")
    axes.axvline(1.0, color="grey", linestyle="--", label="issue 6 target (p99 1 s)")
    axes.set(xlabel="seconds from appearance to alert on /api/live", ylabel="alerts", title=title)
    axes.legend(loc="upper right", fontsize=8)
    return _save(figure, path)


def trajectory_map(
    cameras: list[dict], truth: list[tuple[str, float]], stops: list[tuple[str, float]], title: str, path: Path
) -> Path:
    """Cameras as labelled points (metres east and north of the first); the true route (wide, pale)
    under the stops the API returned (numbered in time order)."""
    lat0, lon0 = cameras[0]["latitude"], cameras[0]["longitude"]
    east = 111_320.0 * math.cos(math.radians(lat0))
    where = {c["id"]: ((c["longitude"] - lon0) * east, (c["latitude"] - lat0) * 111_320.0) for c in cameras}
    figure, axes = plt.subplots(figsize=(6.5, 4))
    axes.scatter(*zip(*where.values()), marker="s", color="grey", zorder=3)
    for camera_id, (x, y) in where.items():
        axes.annotate(camera_id, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    for route, style, label in (
        (truth, {"color": "tab:blue", "linewidth": 7, "alpha": 0.3}, "ground truth"),
        (stops, {"color": "tab:orange", "linewidth": 1.5, "marker": "o"}, "trajectory from the API"),
    ):
        points = [where[c] for c, _ in sorted(route, key=lambda r: r[1]) if c in where]
        if points:
            axes.plot(*zip(*points), label=label, **style)
    for number, (camera_id, _) in enumerate(sorted(stops, key=lambda r: r[1]), 1):
        if camera_id in where:
            axes.annotate(
                str(number),
                where[camera_id],
                textcoords="offset points",
                xytext=(-12, -12),
                color="tab:orange",
                fontsize=9,
            )
    axes.set(xlabel="metres east", ylabel="metres north", title=title, aspect="equal")
    axes.margins(0.15)
    axes.legend(loc="best", fontsize=8)
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
