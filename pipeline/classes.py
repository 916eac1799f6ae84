"""Class names per dataset (NTU-120's official list; NTU-60 is its first 60; NW-UCLA's 10)."""
from __future__ import annotations

from pathlib import Path

from .nwucla import CLASS_NAMES as NWUCLA_CLASSES

RESOURCES = Path(__file__).resolve().parent / "resources"


def class_names(dataset: str) -> list[str]:
    if dataset in ("ntu60", "ntu120"):
        names = [n for n in (RESOURCES / "ntu120_classes.txt").read_text().splitlines() if n]
        return names[:60] if dataset == "ntu60" else names
    if dataset == "nwucla":
        return list(NWUCLA_CLASSES)
    raise ValueError(f"dataset {dataset!r} has no built-in class names: the annotation file must carry "
                     f"label_names (as `make extract DATASET=videos` writes them), or the config class_names")
