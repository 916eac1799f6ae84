"""PG-GCN and its parts. `build_model(cfg)` builds any registered model from a config dict."""
from __future__ import annotations

import copy

from mmengine.registry import MODELS

from .graph import Graph
from .pggcn import PGGCN
from .pgam import PGAM
from .pose_stream import PoseStream

__all__ = ["Graph", "PGGCN", "PGAM", "PoseStream", "build_model"]


def build_model(cfg: dict):
    """Build from a config dict such as dict(type='PGGCN', num_classes=60, layout='ntu25')."""
    cfg = copy.deepcopy(dict(cfg))
    cfg.setdefault("type", "PGGCN")
    return MODELS.build(cfg)
