"""Our annotation records -> the files other tools read.

mmaction2's (and pyskl's) 2D skeleton configs read `keypoint` (M, T, 17, 2) COCO-17 pixels + `keypoint_score`
(M, T, 17), with `img_shape`, `total_frames`, `label`, `frame_dir`. Our records carry the estimator's 2D pose
as NTU-25 (`pose_keypoint`, `pose_score`); the 12 limb joints map one to one, COCO's nose is taken at NTU's
head joint, and its eyes and ears (which NTU-25 does not have) are exported at the head with score 0, so a
heatmap pipeline simply leaves them out. NTU records are mirrored images whose left/right labels follow the
performer (`pose_mirrored`); the export swaps them back to the image's own left/right, which is what an
estimator run on those frames (HRNet in mmaction2's ntu60_hrnet.pkl) reports.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from extract.fileio import atomic_pickle_dump, check_output_file, check_regular_output, refuse_overwriting_inputs
from models.layouts import get_layout

from pipeline.data.annotations import load_annotations

FACE = ("left_eye", "right_eye", "left_ear", "right_ear")


def _index(source: str = "ntu25") -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 joint -> source joint index, and COCO-17 joints whose score is kept (1) or zeroed (0)."""
    src, coco = get_layout(source), get_layout("coco17")
    names = {n: i for i, n in enumerate(src.joint_names)}
    head = names["head"]
    idx = np.array([head if n == "nose" or n in FACE else names[n] for n in coco.joint_names])
    keep = np.array([0.0 if n in FACE else 1.0 for n in coco.joint_names], np.float32)
    return idx, keep


def record_to_mmaction_2d(rec: dict) -> dict:
    if rec.get("pose_keypoint") is None or rec.get("pose_score") is None:
        raise ValueError(f"record {rec['frame_dir']} has no estimator 2D pose (pose_keypoint); extract with "
                         f"POSE=mediapipe or POSE=mmpose to export it")
    layout = get_layout(rec.get("layout", "ntu25"))
    kp, score = np.asarray(rec["pose_keypoint"], np.float32), np.asarray(rec["pose_score"], np.float32)
    if rec.get("pose_mirrored"):
        kp, score = kp[:, :, layout.flip_index], score[:, :, layout.flip_index]
    idx, keep = _index(layout.name)
    shape = tuple(rec.get("img_shape") or (1080, 1920))
    return dict(frame_dir=rec["frame_dir"], label=int(rec["label"]), total_frames=int(kp.shape[1]),
                img_shape=shape, original_shape=tuple(rec.get("original_shape") or shape),
                keypoint=np.ascontiguousarray(kp[:, :, idx]), keypoint_score=np.ascontiguousarray(score[:, :, idx] * keep))


def export_mmaction_2d(src: str | Path, out: str | Path) -> int:
    """Write `out` (mmaction2 2D format) from our annotation file `src`; returns the number of records.
    Every problem is one line naming the file at fault: `src` (a record it cannot export) or `out` (a folder,
    a path under a file, a write that fails), never the temp file it is written through."""
    src, out = Path(src), Path(out)
    refuse_overwriting_inputs([out], [src])
    check_output_file(out)
    check_regular_output(out)
    data = load_annotations(src)
    try:
        records = [record_to_mmaction_2d(r) for r in data["annotations"]]
    except ValueError as e:
        raise ValueError(f"{src}: {e}") from None
    try:
        atomic_pickle_dump(dict(split=data["split"], annotations=records), out)
    except OSError as e:
        raise ValueError(f"{out}: cannot write ({e.strerror or e})") from None
    return len(records)
