"""A checkpoint file turned into a model and the test pipeline it was trained with: what evaluation, video
inference and the ONNX export all start from."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from models import build_model
from pipeline.checkpoint import load_checkpoint, load_state_strict
from pipeline.data.classes import check_class_names
from pipeline.data.transforms import build_pipeline, check_test_pipeline


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
