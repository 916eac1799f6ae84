"""A dataset over an annotation file: one split name picks the samples, the pipeline makes the inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .annotations import load_annotations
from .transforms import build_pipeline


class SkeletonDataset(Dataset):
    def __init__(self, ann_file: str | Path, split: str, pipeline: list, repeat: int = 1, seed: int | None = None):
        data = load_annotations(ann_file)
        if split not in data["split"]:
            raise ValueError(f"{ann_file}: no split {split!r}; it has {', '.join(sorted(data['split']))}")
        wanted = set(data["split"][split])
        self.records = [r for r in data["annotations"] if r["frame_dir"] in wanted]
        if not self.records:
            raise ValueError(f"{ann_file}: split {split!r} is empty")
        self.pipeline = build_pipeline(pipeline)
        self.repeat = repeat
        self.seed = seed
        self.ann_file, self.split = Path(ann_file), split

    def __len__(self) -> int:
        return len(self.records) * self.repeat

    @property
    def labels(self) -> np.ndarray:
        return np.array([r["label"] for r in self.records])

    def __getitem__(self, i: int) -> dict:
        rec = dict(self.records[i % len(self.records)])
        if self.seed is not None:  # deterministic augmentation (tests, test-time)
            rec["rng"] = np.random.default_rng((self.seed, i))
        out = self.pipeline(rec)
        out.pop("rng", None)
        return out
