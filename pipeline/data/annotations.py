"""Annotation records and files (pyskl / mmaction2 skeleton format, plus our pose fields).

One pickle: dict(split=dict(name=[frame_dir, ...]), annotations=[record, ...]); the record fields are listed
in docs/ARCHITECTURE.md. Files are always read through the restricted unpickler, so a pyskl file downloaded
from elsewhere (ntu60_3danno.pkl, ntu120_3danno.pkl) is data, never code.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from pipeline.data.classes import check_class_names
from extract.fileio import atomic_open, atomic_pickle_dump, printable, safe_pickle_load

DEFAULT_LAYOUTS = {25: "ntu25", 20: "kinect_v1_20", 17: "coco17"}  # files from elsewhere name no layout


def save_annotations(path: str | Path, annotations: list[dict], split: dict[str, list[str]]) -> None:
    atomic_pickle_dump(dict(split=split, annotations=annotations), path)


def stream_annotations(path: str | Path, split: dict[str, list[str]], records: Iterable[dict],
                       extra: dict | None = None) -> int:
    """Write the same pickle as `save_annotations`, one record at a time (memory flat in the sample count).

    The file is assembled from pickle opcodes: PROTO 4, a dict whose 'annotations' list gets each record
    APPENDed as soon as it is pickled (by the pure-Python pickler in fast mode: no memo, no framing, so the
    pieces join into one valid stream that any unpickler, ours or pyskl's, reads as one dict)."""
    count = 0
    with atomic_open(path, "wb") as f:
        pickler = pickle._Pickler(f, protocol=4)  # noqa: SLF001 - its save() writes an object without PROTO/STOP
        pickler.fast = True
        f.write(pickle.PROTO + b"\x04" + pickle.EMPTY_DICT)
        for key, value in {"split": split, **(extra or {})}.items():  # e.g. label_names
            pickler.save(key)
            pickler.save(value)
            f.write(pickle.SETITEM)
        pickler.save("annotations")
        f.write(pickle.EMPTY_LIST)
        for rec in records:
            pickler.save(rec)
            f.write(pickle.APPEND)
            count += 1
        f.write(pickle.SETITEM + pickle.STOP)
    return count


def refuse_repeated(members, where: str) -> None:
    """A split that names a sample twice would count it twice (and collide in scores.npz): refused."""
    seen: set[str] = set()
    for n in members:
        if n in seen:
            raise ValueError(f"{where} names the sample {printable(str(n))!r} twice")
        seen.add(n)


def load_annotations(path: str | Path) -> dict[str, Any]:
    """Load and check an annotation file (ours or pyskl's); fills defaults pyskl files lack."""
    path = Path(path)
    data = safe_pickle_load(path)
    if not isinstance(data, dict) or "annotations" not in data or "split" not in data:
        raise ValueError(f"{path}: not an annotation file (expected a dict with 'split' and 'annotations')")
    if not isinstance(data["annotations"], list) or not isinstance(data["split"], dict):
        raise ValueError(f"{path}: 'annotations' must be a list and 'split' a dict")
    for i, rec in enumerate(data["annotations"]):
        where = f"{path}: record {i}"
        if not isinstance(rec, dict) or not isinstance(rec.get("frame_dir"), str):
            raise ValueError(f"{where}: not a record with a frame_dir (a string)")
        where = f"{path}: record {i} ({rec['frame_dir']})"
        kp = rec.get("keypoint")
        if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.shape[-1] not in (2, 3):
            raise ValueError(f"{where}: 'keypoint' must be an array (M, T, V, 3), got "
                             f"{getattr(kp, 'shape', type(kp).__name__)}")
        if kp.dtype.kind != "f" or not np.isfinite(kp).all():
            raise ValueError(f"{where}: 'keypoint' must hold finite floats (found "
                             f"{'NaN or infinite values' if kp.dtype.kind == 'f' else kp.dtype})")
        rec.setdefault("layout", DEFAULT_LAYOUTS.get(kp.shape[2], "ntu25"))
        rec.setdefault("total_frames", kp.shape[1])
        label = rec.get("label")
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
            raise ValueError(f"{where}: 'label' must be a non-negative integer, got {label!r}")
        for key in ("kinect_color", "pose_keypoint", "pose_score", "pose_world", "keypoint_score"):
            arr = rec.get(key)
            if arr is None:
                continue
            if not isinstance(arr, np.ndarray) or arr.shape[:3] != kp.shape[:3]:
                raise ValueError(f"{where}: '{key}' shape {getattr(arr, 'shape', None)} does not match "
                                 f"keypoint {kp.shape[:3]}")
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise ValueError(f"{where}: '{key}' has NaN or infinite values")
    label_names = data.get("label_names")
    if label_names is not None:
        if not isinstance(label_names, list):
            raise ValueError(f"{path}: 'label_names' must be a non-empty list of strings")
        check_class_names(label_names, f"{path}: label_names")
        bad = next((r for r in data["annotations"] if r["label"] >= len(label_names)), None)
        if bad is not None:
            raise ValueError(f"{path}: record {bad['frame_dir']} has label {bad['label']}, but the file names only "
                             f"{len(label_names)} classes")
    names: set[str] = set()
    for i, rec in enumerate(data["annotations"]):
        if rec["frame_dir"] in names:  # scores, reports and the store are keyed by name: one name, one sample
            raise ValueError(f"{path}: record {i} repeats the sample name {printable(rec['frame_dir'])!r}")
        names.add(rec["frame_dir"])
    for split, members in data["split"].items():
        if not isinstance(members, (list, tuple)) or not all(isinstance(n, str) for n in members):
            raise ValueError(f"{path}: split {printable(str(split))!r} must be a list of sample names")
        refuse_repeated(members, f"{path}: split {printable(str(split))!r}")
        unknown = [n for n in members if n not in names]
        if unknown:
            raise ValueError(f"{path}: split {split!r} names {len(unknown)} samples without a record, "
                             f"e.g. {unknown[0]}")
    return data
