"""A dataset over an annotation file: one split name picks the samples, the pipeline makes the inputs.

Reproducibility: every sample's augmentation draws from its own generator seeded by (seed, epoch, index),
so two runs with the same seed see the same inputs in the same order, whatever the number of loader
workers (workers get copies of the dataset, so the epoch travels with each index: `EpochSampler` hands
out (epoch, index) pairs).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from extract.fileio import one_line, printable

from pipeline.data.annotations import load_annotations, refuse_repeated
from pipeline.data.store import SampleStore, open_store
from pipeline.data.transforms import build_pipeline


class SkeletonDataset(Dataset):
    """Samples of one split. By default they come from the memory-mapped store beside the annotation file
    (pipeline/data/store.py; built from the pickle on first use), which every DDP rank and loader worker shares
    through the page cache; `use_store=False` reads the whole pickle instead."""

    def __init__(self, ann_file: str | Path, split: str, pipeline: list, repeat: int = 1, seed: int = 0,
                 use_store: bool = True):
        store = None
        if use_store:
            try:
                store = open_store(ann_file)
            except OSError:  # a read-only dataset folder: no store beside it, the pickle still works
                store = None
        if store is not None:
            splits, names, self.label_names = store.split, store.names, store.label_names
        else:
            data = load_annotations(ann_file)
            splits, names = data["split"], np.array([r["frame_dir"] for r in data["annotations"]])
            self.label_names = data.get("label_names")  # the class names a file of the user's own clips carries
        if split not in splits:
            raise ValueError(f"{ann_file}: no split {split!r}; it has {', '.join(sorted(splits))}")
        refuse_repeated(splits[split], f"{ann_file}: split {split!r}")
        index = np.flatnonzero(np.isin(names, np.asarray(splits[split], dtype=names.dtype)))
        if not len(index):
            raise ValueError(f"{ann_file}: split {split!r} is empty")
        if store is not None:
            self.records = StoreRecords(store, index)
            self.labels = store.labels[index]
        else:
            self.records = [data["annotations"][i] for i in index]
            self.labels = np.array([r["label"] for r in self.records], np.int64)
        self.names = names[index]
        self.pipeline = build_pipeline(pipeline)
        self.repeat = repeat
        self.seed = seed
        self.ann_file, self.split = Path(ann_file), split
        self[0]  # a record the pipeline cannot use fails here, in one line, not inside a loader worker

    def __len__(self) -> int:
        return len(self.records) * self.repeat

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, i = key if isinstance(key, tuple) else (0, key)
        rec = dict(self.records[i % len(self.records)])
        rec["rng"] = np.random.default_rng((self.seed, epoch, i))
        try:
            out = self.pipeline(rec)
        except ValueError as e:  # a transform sees one record, not its file: say which file and sample
            raise ValueError(one_line(e, f"{self.ann_file}: sample {printable(str(rec.get('frame_dir')))}")
                             if str(self.ann_file) not in str(e) else one_line(e)) from None
        out.pop("rng", None)
        return out


class StoreRecords:
    """The records of a split, read from a SampleStore on access (nothing is held per sample)."""

    def __init__(self, store: SampleStore, index: np.ndarray):
        self.store, self.index = store, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        return self.store.record(int(self.index[i]))


class EpochSampler(Sampler):
    """Shuffled indices (seeded by seed and epoch; this rank's share under DDP), each tagged with the epoch."""

    def __init__(self, dataset: Dataset, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        self.order = DistributedSampler(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order.set_epoch(epoch)

    def __iter__(self):
        return ((self.epoch, int(i)) for i in self.order)

    def __len__(self) -> int:
        return len(self.order)


def test_loader(cfg, ann: Path, pipeline: list, batch_size: int, seed: int = 0) -> torch.utils.data.DataLoader:
    """The test split in order, no workers (the test pipelines are cheap and deterministic)."""
    dataset = SkeletonDataset(ann, cfg.test_split, pipeline, seed=seed, use_store=cfg.get("use_store", True))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
