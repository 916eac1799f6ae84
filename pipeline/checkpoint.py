"""Checkpoints as plain state dicts with JSON-able metadata, loadable with torch.load(weights_only=True).

torch >= 2.6 refuses to unpickle arbitrary objects by default, and a checkpoint from elsewhere should never
run code, so nothing but tensors and plain Python values goes in: state_dict, meta (class names, config as
a plain dict, version, epoch, metrics) and, for resuming, the optimizer state and training progress.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from models import build_model

from extract.fileio import atomic_open, require_file
from .classes import check_class_names
from .transforms import build_pipeline, check_test_pipeline

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


@dataclass
class CheckpointModel:
    """A checkpoint turned into what evaluation, inference and export need."""

    path: Path
    model: torch.nn.Module  # eval mode, weights loaded
    meta: dict
    class_names: list[str]
    layout: str
    pipeline_cfg: list  # the test pipeline as config dicts
    pipeline: Callable[[dict], dict]


def load_model(path: str | Path, model_cfg: dict | None = None, test_pipeline: list | None = None,
               device: str = "cpu") -> CheckpointModel:
    """The one way from a checkpoint file to a model and the test pipeline it was trained with.

    The model and pipeline come from the checkpoint's own metadata (so a checkpoint is used the way it
    was trained even after the config file moved on); `model_cfg` / `test_pipeline` are the fallbacks for
    a checkpoint without them. Every `type` in that metadata is looked up in this project's registries
    only. Every problem is a ValueError naming the file."""
    path = Path(path)
    ckpt = load_checkpoint(path, map_location=device)
    meta = ckpt["meta"]
    cfg = meta.get("config") or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: its metadata's config is a {type(cfg).__name__}, not a dict")
    mcfg = cfg.get("model") or model_cfg
    if not isinstance(mcfg, dict) or not mcfg:
        raise ValueError(f"{path}: its metadata describes no model (meta.config.model) and no config gives one")
    mcfg = {k: v for k, v in mcfg.items() if k != "pretrained"}
    try:
        model = build_model(mcfg)
        pipeline_cfg = _find_test_pipeline(cfg) or test_pipeline
        if not pipeline_cfg:
            raise ValueError("its config has no test pipeline (test_pipeline) to build inputs with")
        pipeline = build_pipeline(pipeline_cfg)
        check_test_pipeline(pipeline_cfg)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    load_state_strict(model, ckpt["state_dict"], path)
    model.eval().to(device)
    names = meta.get("class_names")
    num_classes = getattr(model, "num_classes", None)
    if names is None:
        names = [f"class {i}" for i in range(num_classes or 0)]
    elif not isinstance(names, list):
        raise ValueError(f"{path}: class_names in its metadata must be a list of strings")
    names = check_class_names(names, f"{path}: class_names in its metadata")
    if num_classes is not None and num_classes != len(names):
        raise ValueError(f"{path}: {len(names)} class names for a model with {num_classes} classes")
    layout = model.layout.name if hasattr(model, "layout") else str(mcfg.get("layout", "ntu25"))
    return CheckpointModel(path, model, meta, list(names), layout, list(pipeline_cfg), pipeline)


def _find_test_pipeline(cfg: dict) -> list | None:
    if cfg.get("test_pipeline"):
        return cfg["test_pipeline"]
    for key in ("test_dataloader", "val_dataloader"):
        ds = (cfg.get(key) or {}).get("dataset") or {}
        if isinstance(ds, dict) and ds.get("pipeline"):
            return ds["pipeline"]
    return None


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
