"""Weighted-sum fusion of per-sample score dumps (tools/test.py's scores.npz), matched by sample name."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from pipeline.engine.evaluation import compute_metrics
from extract.fileio import atomic_json_dump, atomic_open, refuse_overwriting_inputs, require_file


def load_scores(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """names (N,), labels (N,) int, scores (N, C) finite; ValueError naming the file otherwise."""
    path = require_file(path, "score dump")
    try:
        with np.load(path, allow_pickle=False) as d:
            names, labels, scores = d["names"], d["labels"], d["scores"]
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a score dump from tools/test.py ({' '.join(str(e).split()) or 'empty'})") from None
    if scores.ndim != 2 or names.shape != (len(scores),) or labels.shape != (len(scores),):
        raise ValueError(f"{path}: expected names (N,), labels (N,) and scores (N, classes), got "
                         f"{names.shape}, {labels.shape} and {scores.shape}")
    if labels.dtype.kind not in "iu" or scores.dtype.kind != "f":
        raise ValueError(f"{path}: labels must be integers and scores floats")
    if len(scores) == 0:
        raise ValueError(f"{path}: holds no samples")
    if not np.isfinite(scores).all():
        raise ValueError(f"{path}: scores contain NaN or infinite values")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ValueError(f"{path}: labels outside 0..{scores.shape[1] - 1}")
    if len(set(names.tolist())) != len(names):
        raise ValueError(f"{path}: sample names repeat")
    return names, labels, scores


def fuse(paths: list[Path], weights: list[float] | None = None, out: Path | None = None) -> dict:
    weights = weights or [1.0] * len(paths)
    if len(weights) != len(paths):
        raise ValueError(f"{len(weights)} weights for {len(paths)} score files")
    if not all(np.isfinite(w) for w in weights):
        raise ValueError(f"--weights must be finite numbers, got {weights}")
    if out is not None:
        refuse_overwriting_inputs([Path(out) / "scores.npz", Path(out) / "metrics.json"], paths)
    names, labels, total = load_scores(paths[0])
    total = total * weights[0]
    order = {n: i for i, n in enumerate(names)}
    for path, w in zip(paths[1:], weights[1:]):
        n2, l2, s2 = load_scores(path)
        if set(n2) != set(order) or s2.shape[1] != total.shape[1]:
            raise ValueError(f"{path}: covers other samples or classes than {paths[0]}")
        idx = np.array([order[n] for n in n2])
        if not np.array_equal(labels[idx], l2):
            bad = n2[np.flatnonzero(labels[idx] != l2)[0]]
            raise ValueError(f"{path}: labels differ from {paths[0]} (e.g. sample {bad}); these are not the same "
                             f"test set")
        aligned = np.empty_like(s2)
        aligned[idx] = s2
        total = total + w * aligned
    metrics = compute_metrics(total, labels)
    if out is not None:
        out = Path(out)
        with atomic_open(out / "scores.npz", "wb") as f:
            np.savez_compressed(f, names=names, labels=labels, scores=total.astype(np.float32))
        atomic_json_dump(metrics, out / "metrics.json")
    return metrics
