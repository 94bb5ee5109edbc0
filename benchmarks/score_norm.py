"""Score normalisation against an impostor cohort: a pair's cosine normalised by how each side scores against
a cohort of other faces (Z-norm, T-norm, S-norm, and their top-k "adaptive" forms), and TAR at a false-match
rate. The arithmetic of ``benchmarks/eval_score_norm.py``."""

from __future__ import annotations

import warnings

import numpy as np

FARS = (1e-3, 1e-4)


def cohort_stats(scores: np.ndarray, allowed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``scores`` (faces x cohort): mean and spread of its ``k`` highest allowed cohort scores
    (all of them when ``k`` is 0 or more than there are)."""
    ranked = -np.sort(-np.where(allowed, scores, -np.inf), axis=1)
    counts = allowed.sum(axis=1)
    take = np.minimum(counts, k) if k else counts
    columns = np.arange(ranked.shape[1])[None, :] < take[:, None]
    top = np.where(columns, ranked, np.nan)
    with warnings.catch_warnings():  # a row with no cohort face left gets NaN: its pairs are never accepted
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(top, axis=1), np.maximum(np.nanstd(top, axis=1), 1e-6)


def first_few(candidates: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Per row, ``count`` of the True entries of ``candidates`` drawn at random (all when fewer)."""
    priority = np.where(candidates, rng.random(candidates.shape), np.inf)
    ranks = np.argsort(np.argsort(priority, axis=1), axis=1)
    return candidates & (ranks < count)


def normalised(
    raw: np.ndarray, query_side: tuple[np.ndarray, np.ndarray], gallery_side: tuple[np.ndarray, np.ndarray]
) -> dict[str, np.ndarray]:
    z = (raw - query_side[0][:, None]) / query_side[1][:, None]
    t = (raw - gallery_side[0][None, :]) / gallery_side[1][None, :]
    return {"z": z, "t": t, "s": (z + t) / 2.0}


def tar_at_far(scores: np.ndarray, genuine: np.ndarray, impostor: np.ndarray) -> dict[str, float]:
    """TAR at each of ``FARS`` and the threshold there (accepted: above it)."""
    ranked = np.sort(scores[impostor])[::-1]
    out: dict[str, float] = {}
    for far in FARS:
        threshold = float(ranked[int(np.floor(far * len(ranked)))])
        out[f"tar_{far:g}"] = float((scores[genuine] > threshold).mean())
        out[f"threshold_{far:g}"] = threshold
    return out


def cohort_masks(
    mode: str,
    query_own: np.ndarray,
    gallery_own: np.ndarray,
    query_allowed: np.ndarray,
    gallery_allowed: np.ndarray,
    rng,
) -> tuple[np.ndarray, np.ndarray]:
    """Which cohort faces each side may use: ``*_own`` marks the cohort faces of the side's own person,
    ``*_allowed`` those any cohort of ``mode`` may use. ``others``: none of the own person's faces;
    ``others +M``: ``M`` of them at random; ``gallery`` and ``pruned``: all of them."""
    if mode.startswith("others"):
        kept = int(mode.split("+")[1]) if "+" in mode else 0
        query_allowed = query_allowed & (~query_own | first_few(query_own & query_allowed, kept, rng))
        gallery_allowed = gallery_allowed & (~gallery_own | first_few(gallery_own & gallery_allowed, kept, rng))
    return query_allowed, gallery_allowed


def normalise_with(
    mode: str, k: int, raw: np.ndarray, queries: np.ndarray, gallery: np.ndarray, cohort: np.ndarray, masks
) -> dict[str, np.ndarray]:
    """Raw and normalised scores of ``queries`` x ``gallery`` against the ``cohort`` vectors (``pruned T``:
    a side's cohort faces it scores ``T`` or more are left out, as likely the same person)."""
    query_allowed, gallery_allowed = masks
    query_scores, gallery_scores = queries @ cohort.T, gallery @ cohort.T
    if mode.startswith("pruned"):
        prune = float(mode.split(" ")[1])
        query_allowed, gallery_allowed = (
            query_allowed & (query_scores < prune),
            gallery_allowed & (gallery_scores < prune),
        )
    query_side = cohort_stats(query_scores, query_allowed, k)
    gallery_side = cohort_stats(gallery_scores, gallery_allowed, k)
    return {"raw": raw} | normalised(raw, query_side, gallery_side)
