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

from extract.fileio import atomic_open, require_file

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
    path = require_file(path, "checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable PG-GCN checkpoint ({' '.join(str(e).split())})") from None
    if (not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict)
            or not isinstance(ckpt.get("meta"), dict)):
        raise ValueError(f"{path}: not a PG-GCN checkpoint (expected a dict with state_dict and meta)")
    return ckpt


def load_state_strict(model: torch.nn.Module, state: dict, path: Path) -> None:
    """Strict load with a one-line account of what does not match (another model's checkpoint)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(getattr(state[k], "shape", ()))]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} shape mismatches (e.g. {k}: checkpoint "
                         f"{tuple(getattr(state[k], 'shape', ()))} vs model {tuple(own[k].shape)})")
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        raise ValueError(f"{path}: checkpoint does not fit the model its config describes: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)
