"""A memory-mapped sample store beside annotations.pkl, so that training opens NTU-120 without reading it.

annotations.pkl stays the interchange file (pyskl / mmaction2 read it). A pickle must be loaded whole, by
every DDP rank, and forked loader workers copy its pages as Python touches the objects: about 12 GB per
process for NTU-120 with pose fields. The store (`annotations.store/` beside the pickle) is instead:
- one flat raw array per per-frame field, concatenated over samples along (person, frame) rows:
  `keypoint` (sum of M*T, V, 3) float32, `pose_keypoint` float32 (pixels: float16 would cost a pixel at
  1920), `pose_world` float32, `kinect_color` float32, `pose_score` / `keypoint_score` float16 (scores in
  [0, 1] keep 3 decimals), `kinect_tracking` uint8;
- small columns (names, labels, frame and person counts, offsets, img_shape, layout, pose_source, ...);
- `index.json` with dtypes and shapes, and the size and mtime of the pickle it was built from.
Arrays are opened with `np.memmap(mode='r')`: every rank and worker on a machine shares one page cache and
the opening costs milliseconds. Writers append sample by sample (flat memory) and publish the folder with
one rename, so a store is complete or absent.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from extract.fileio import atomic_json_dump, remove_stale_temps, temp_name

VERSION = 1
FRAME_FIELDS = {  # per-(person, frame) arrays and the dtype they are stored in
    "keypoint": np.float32, "pose_keypoint": np.float32, "pose_world": np.float32, "kinect_color": np.float32,
    "pose_score": np.float16, "keypoint_score": np.float16, "kinect_tracking": np.uint8,
}
SCALAR_FIELDS = ("total_frames", "layout", "pose_source", "pose_mirrored", "pose_frames", "fps")


def store_path(ann_file: str | Path) -> Path:
    ann_file = Path(ann_file)
    return ann_file.with_name(ann_file.stem + ".store")


def fingerprint(ann_file: Path) -> dict:
    """Size and mtime of the annotation file a store was built from: a changed file means a stale store."""
    st = ann_file.stat()
    return dict(size=st.st_size, mtime_ns=st.st_mtime_ns)


class StoreWriter:
    """Append records one by one; `close()` publishes the store (atomically, by renaming its folder)."""

    def __init__(self, target: str | Path):
        self.target = Path(target)
        self.tmp = self.target.with_name(temp_name(self.target.name))
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.files: dict[str, Any] = {}
        self.shapes: dict[str, tuple] = {}
        self.columns: dict[str, list] = {k: [] for k in ("names", "labels", "frames", "persons", "img_shape",
                                                         *SCALAR_FIELDS)}
        self.rows = 0

    def add(self, rec: dict) -> None:
        kp = rec["keypoint"]
        m, t = kp.shape[:2]
        for key, dtype in FRAME_FIELDS.items():
            arr = rec.get(key)
            if arr is None:
                if key in self.files:
                    raise ValueError(f"record {rec['frame_dir']} lacks {key}, which earlier records have")
                continue
            arr = np.ascontiguousarray(np.asarray(arr).reshape(m * t, *arr.shape[2:]), dtype=dtype)
            if key not in self.files:
                if self.rows:
                    raise ValueError(f"record {rec['frame_dir']} has {key}, which earlier records lack")
                self.files[key] = open(self.tmp / f"{key}.bin", "wb")
                self.shapes[key] = arr.shape[1:]
            if arr.shape[1:] != self.shapes[key]:
                raise ValueError(f"record {rec['frame_dir']}: {key} has shape {arr.shape[1:]} per frame, earlier "
                                 f"records {self.shapes[key]}; a store holds one joint layout")
            self.files[key].write(arr.tobytes())
        c = self.columns
        c["names"].append(rec["frame_dir"])
        c["labels"].append(int(rec["label"]))
        c["frames"].append(t)
        c["persons"].append(m)
        c["img_shape"].append(tuple(rec.get("img_shape") or (0, 0))[:2])
        for key in SCALAR_FIELDS:
            c[key].append(rec.get(key))
        self.rows += m * t

    def close(self, split: dict[str, list[str]], source: dict | None = None,
              label_names: list[str] | None = None) -> Path:
        for f in self.files.values():
            f.close()
        c = self.columns
        frames = np.asarray(c["frames"], np.int64)
        persons = np.asarray(c["persons"], np.int64)
        np.save(self.tmp / "names.npy", np.asarray(c["names"], dtype=str))
        np.save(self.tmp / "labels.npy", np.asarray(c["labels"], np.int64))
        np.save(self.tmp / "frames.npy", frames)
        np.save(self.tmp / "persons.npy", persons)
        np.save(self.tmp / "offsets.npy", np.concatenate([[0], np.cumsum(frames * persons)[:-1]]).astype(np.int64))
        np.save(self.tmp / "img_shape.npy", np.asarray(c["img_shape"], np.int64).reshape(-1, 2))
        atomic_json_dump(split, self.tmp / "split.json", indent=None)
        scalars = {k: v for k, v in ((k, c[k]) for k in SCALAR_FIELDS) if any(x is not None for x in v)}
        atomic_json_dump(scalars, self.tmp / "scalars.json", indent=None)
        atomic_json_dump(dict(version=VERSION, samples=len(frames), rows=self.rows,
                              fields={k: [np.dtype(FRAME_FIELDS[k]).str, list(s)] for k, s in self.shapes.items()},
                              source=source, label_names=label_names), self.tmp / "index.json")
        old = self.target.with_name(temp_name(self.target.name, "old"))
        if self.target.exists():
            os.replace(self.target, old)
        os.replace(self.tmp, self.target)
        shutil.rmtree(old, ignore_errors=True)
        return self.target

    def abort(self) -> None:
        for f in self.files.values():
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def write_store(records: Iterable[dict], split: dict[str, list[str]], target: str | Path,
                source: dict | None = None, label_names: list[str] | None = None) -> Path:
    writer = StoreWriter(target)
    try:
        for rec in records:
            writer.add(rec)
        return writer.close(split, source, label_names)
    except BaseException:
        writer.abort()
        raise


class SampleStore:
    """A read-only store; `record(i)` is an annotation record (dict) whose arrays are views of the maps."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.index = json.loads((self.path / "index.json").read_text())
            if self.index.get("version") != VERSION:
                raise ValueError(f"store version {self.index.get('version')}, expected {VERSION}")
            self.names = np.load(self.path / "names.npy")
            self.labels = np.load(self.path / "labels.npy")
            self.frames = np.load(self.path / "frames.npy")
            self.persons = np.load(self.path / "persons.npy")
            self.offsets = np.load(self.path / "offsets.npy")
            self.img_shape = np.load(self.path / "img_shape.npy")
            self.scalars = json.loads((self.path / "scalars.json").read_text())
            self.split = json.loads((self.path / "split.json").read_text())
            self.label_names = self.index.get("label_names")
            rows = self.index["rows"]
            self.arrays = {k: np.memmap(self.path / f"{k}.bin", dtype=np.dtype(d), mode="r", shape=(rows, *s))
                           if rows else np.zeros((0, *s), np.dtype(d)) for k, (d, s) in self.index["fields"].items()}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{self.path}: not a readable sample store ({' '.join(str(e).split())}); remove it "
                             f"and it is rebuilt from the annotation file") from None

    def __len__(self) -> int:
        return len(self.names)

    def record(self, i: int) -> dict:
        m, t, start = int(self.persons[i]), int(self.frames[i]), int(self.offsets[i])
        rec: dict[str, Any] = dict(frame_dir=str(self.names[i]), label=int(self.labels[i]))
        for key, arr in self.arrays.items():
            rec[key] = arr[start:start + m * t].reshape(m, t, *arr.shape[1:])
        h, w = self.img_shape[i]
        if h and w:
            rec["img_shape"] = (int(h), int(w))
        for key, values in self.scalars.items():
            if values[i] is not None:
                rec[key] = values[i]
        return rec

    def __iter__(self) -> Iterator[dict]:
        return (self.record(i) for i in range(len(self)))


def open_store(ann_file: str | Path, build: bool = True) -> SampleStore | None:
    """The store beside `ann_file`, (re)built from it when missing or older than the file (atomically);
    None when it is absent and `build` is False."""
    from .annotations import load_annotations

    ann_file = Path(ann_file)
    path = store_path(ann_file)
    if path.is_dir():
        store = SampleStore(path)
        src = store.index.get("source") or {}
        if not ann_file.exists() or src == fingerprint(ann_file):
            return store
    if not build:
        return None
    remove_stale_temps(path.parent)
    data = load_annotations(ann_file)
    write_store(data["annotations"], data["split"], path, source=fingerprint(ann_file),
                label_names=data.get("label_names"))
    return SampleStore(path)
