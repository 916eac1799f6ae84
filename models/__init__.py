"""PG-GCN and its parts. `build_model(cfg)` builds any registered model from a config dict."""
from __future__ import annotations

from .graph import Graph
from .pggcn import PGGCN
from .pgam import PGAM
from .pose_stream import PoseStream
from .registry import MODELS, build_from_cfg

__all__ = ["Graph", "PGGCN", "PGAM", "PoseStream", "MODELS", "build_model"]


def build_model(cfg: dict):
    """Build from a config dict such as dict(type='PGGCN', num_classes=60, layout='ntu25'); the type is
    looked up in this project's registry only (the config may come from a checkpoint file)."""
    return build_from_cfg(cfg, MODELS, default_type="PGGCN")
