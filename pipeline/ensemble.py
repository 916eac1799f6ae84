"""Weighted-sum fusion of per-sample score dumps (tools/test.py's scores.npz), matched by sample name."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .evaluation import compute_metrics
from .fileio import atomic_json_dump, atomic_open


def load_scores(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: score dump not found")
    try:
        with np.load(path, allow_pickle=False) as d:
            return d["names"], d["labels"], d["scores"]
    except (KeyError, ValueError, OSError) as e:
        raise ValueError(f"{path}: not a score dump from tools/test.py ({e})") from None


def fuse(paths: list[Path], weights: list[float] | None = None, out: Path | None = None) -> dict:
    weights = weights or [1.0] * len(paths)
    if len(weights) != len(paths):
        raise ValueError(f"{len(weights)} weights for {len(paths)} score files")
    names, labels, total = load_scores(paths[0])
    total = total * weights[0]
    order = {n: i for i, n in enumerate(names)}
    for path, w in zip(paths[1:], weights[1:]):
        n2, l2, s2 = load_scores(path)
        if set(n2) != set(order) or s2.shape[1] != total.shape[1]:
            raise ValueError(f"{path}: covers other samples or classes than {paths[0]}")
        idx = np.array([order[n] for n in n2])
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
