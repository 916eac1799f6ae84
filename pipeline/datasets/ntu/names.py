"""NTU RGB+D sample names, evaluation splits and the missing-skeleton lists.

A sample name SsssCcccPpppRrrrAaaa encodes setup, camera, performer, replication and action; the label is
A - 1. The splits follow the dataset papers (Shahroudy et al. CVPR 2016; Liu et al. TPAMI 2019), as used by
pyskl and CTR-GCN: cross-subject by performer, cross-view by camera (2 and 3 train), cross-setup by the
parity of the setup number (even train).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.config import RESOURCES

_NAME_RE = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")

NTU60_XSUB_TRAIN_PERFORMERS = frozenset(
    [1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38])
NTU120_XSUB_TRAIN_PERFORMERS = NTU60_XSUB_TRAIN_PERFORMERS | frozenset(
    [45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92,
     93, 94, 95, 97, 98, 100, 103])
NTU60_XVIEW_TRAIN_CAMERAS = frozenset([2, 3])
TWO_PERSON_ACTIONS = frozenset(list(range(50, 61)) + list(range(106, 121)))

DATASETS = {
    # name: (max setup, max action, split names)
    "ntu60": (17, 60, ("xsub", "xview")),
    "ntu120": (32, 120, ("xsub", "xset")),
}


@dataclass(frozen=True)
class SampleName:
    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        return self.action - 1

    @property
    def two_person(self) -> bool:
        return self.action in TWO_PERSON_ACTIONS

    def __str__(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
                f"R{self.replication:03d}A{self.action:03d}")


def parse_sample_name(name: str) -> SampleName:
    """Parse 'S001C001P001R001A001' (a path or a '_rgb.avi'/'.skeleton' suffix is stripped)."""
    stem = Path(name).name.split(".")[0].removesuffix("_rgb")
    m = _NAME_RE.match(stem)
    if not m:
        raise ValueError(f"{name!r} is not an NTU sample name (expected SsssCcccPpppRrrrAaaa)")
    s, c, p, r, a = (int(g) for g in m.groups())
    if not (1 <= s <= 32 and 1 <= c <= 3 and 1 <= p <= 106 and 1 <= r <= 2 and 1 <= a <= 120):
        raise ValueError(f"{name!r}: setup 1-32, camera 1-3, performer 1-106, replication 1-2, action 1-120 "
                         f"expected, got S{s} C{c} P{p} R{r} A{a}")
    return SampleName(s, c, p, r, a)


def in_dataset(name: SampleName, dataset: str) -> bool:
    max_setup, max_action, _ = _dataset(dataset)
    return name.setup <= max_setup and name.action <= max_action


def _dataset(dataset: str) -> tuple[int, int, tuple[str, ...]]:
    try:
        return DATASETS[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}") from None


def is_train(name: SampleName, dataset: str, split: str) -> bool:
    """Whether a sample belongs to the training side of `split` ('xsub', 'xview' or 'xset')."""
    _, _, splits = _dataset(dataset)
    if split not in splits:
        raise ValueError(f"{dataset} has splits {', '.join(splits)}, not {split!r}")
    if split == "xsub":
        performers = NTU60_XSUB_TRAIN_PERFORMERS if dataset == "ntu60" else NTU120_XSUB_TRAIN_PERFORMERS
        return name.performer in performers
    if split == "xview":
        return name.camera in NTU60_XVIEW_TRAIN_CAMERAS
    return name.setup % 2 == 0  # xset


def make_splits(names: list[str], dataset: str) -> dict[str, list[str]]:
    """{'xsub_train': [...], 'xsub_val': [...], ...} for the dataset's standard protocols, in input order."""
    _, _, splits = _dataset(dataset)
    out: dict[str, list[str]] = {}
    parsed = [(n, parse_sample_name(n)) for n in names]
    for split in splits:
        out[f"{split}_train"] = [n for n, p in parsed if is_train(p, dataset, split)]
        out[f"{split}_val"] = [n for n, p in parsed if not is_train(p, dataset, split)]
    return out


@lru_cache(maxsize=None)
def missing_skeletons(dataset: str) -> frozenset[str]:
    """Samples without usable skeletons (shipped lists from the dataset authors); excluded everywhere."""
    _dataset(dataset)
    files = ["NTU_RGBD_samples_with_missing_skeletons.txt"]
    if dataset == "ntu120":
        files.append("NTU_RGBD120_samples_with_missing_skeletons.txt")
    names: set[str] = set()
    for f in files:
        names.update(line.strip() for line in (RESOURCES / f).read_text().splitlines() if line.strip())
    return frozenset(names)
