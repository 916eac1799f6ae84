"""PG-GCN and its parts. `build_model(cfg)` builds any registered model from a config dict.

The exports load on first use (PEP 562), so that `models.layouts` and `models.heatmaps`, which pose
extraction and video inference need before any model, do not pull in torch: the video CLI starts its
pose stage while the model loads in another process."""
from __future__ import annotations

import importlib

__all__ = ["Ensemble", "Graph", "PGGCN", "PGAM", "PoseStream", "MODELS", "build_model"]
_WHERE = {"Ensemble": ".ensemble", "Graph": ".graph", "PGGCN": ".pggcn", "PGAM": ".pgam",
          "PoseStream": ".pose_stream", "MODELS": ".registry"}


def build_model(cfg: dict):
    """Build from a config dict such as dict(type='PGGCN', num_classes=60, layout='ntu25'); the type is
    looked up in this project's registry only (the config may come from a checkpoint file)."""
    from . import ensemble, pggcn  # noqa: F401  (registers Ensemble and PGGCN)
    from .registry import MODELS, build_from_cfg

    return build_from_cfg(cfg, MODELS, default_type="PGGCN")


def __getattr__(name: str):
    if name in _WHERE:
        if name == "MODELS":
            from . import ensemble, pggcn  # noqa: F401  (the registry is only useful with the models registered)
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
