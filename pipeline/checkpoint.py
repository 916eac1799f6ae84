"""Checkpoints as plain state dicts with JSON-able metadata, loadable with torch.load(weights_only=True).

torch >= 2.6 refuses to unpickle arbitrary objects by default, and a checkpoint from elsewhere should never
run code, so nothing but tensors and plain Python values goes in: state_dict, meta (class names, config as
a plain dict, version, epoch, metrics) and, for resuming, the optimizer state and training progress.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .fileio import atomic_open

VERSION = "0.1.0"


def plain(obj: Any) -> Any:
    """Turn config values (tuples, mmengine ConfigDicts) into JSON-able plain values."""
    return json.loads(json.dumps(obj, default=lambda o: dict(o) if hasattr(o, "keys") else str(o)))


def save_checkpoint(path: str | Path, state_dict: dict, meta: dict, **extra: Any) -> None:
    meta = dict(plain(meta), version=VERSION)
    payload = dict(state_dict={k: v.detach().cpu() for k, v in state_dict.items()}, meta=meta, **extra)
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict:
    """Load with weights_only=True; one-line errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable PG-GCN checkpoint ({' '.join(str(e).split())[:160]})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "meta" not in ckpt:
        raise ValueError(f"{path}: not a PG-GCN checkpoint (expected keys state_dict and meta)")
    return ckpt
