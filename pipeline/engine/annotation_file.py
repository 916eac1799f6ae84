"""The annotation file a config names, found (or, for NW-UCLA, made from the shipped archive) before a run."""
from __future__ import annotations

from pathlib import Path

from pipeline.config import resolve
from pipeline.datasets.nwucla import DEFAULT_ANN as DEFAULT_NWUCLA_ANN
from pipeline.datasets.nwucla import import_nwucla


def ensure_annotations(cfg) -> Path:
    """The config's annotation file; NW-UCLA's is imported from the shipped archive on first use."""
    ann = resolve(cfg.ann_file)
    if not ann.exists():
        if cfg.dataset == "nwucla" and ann == DEFAULT_NWUCLA_ANN:
            import_nwucla(out=ann)
        else:
            raise FileNotFoundError(f"{ann}: annotation file not found; build it with `make extract DATASET="
                                    f"{cfg.dataset} DATA_ROOT=...` (or point ann_file at a pyskl *_3danno.pkl)")
    return ann
