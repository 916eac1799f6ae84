"""Draw what the model saw onto the video: each tracked person's skeleton and id, and the current label.

A reviewer checks a prediction by eye, so the overlay shows the same tracks the model was fed (not a
fresh pose run). Each person's bones are drawn with one `cv2.polylines` call (all segments at once) and
the joints as zero-length thick segments, so there is no per-joint Python loop. The file is written to
a temp name beside the target and renamed at the end: an interrupted run leaves no broken video.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from .fileio import atomic_path
from models.layouts import get_layout

from .multiperson import VideoPoses

_BP = get_layout("blazepose33")
# bones worth drawing: the body tree without the face details
_BONE_NAMES = (
    ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("left_ankle", "left_heel"),
    ("left_heel", "left_foot_index"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("right_ankle", "right_heel"), ("right_heel", "right_foot_index"),
    ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
)
BONES = np.array([(_BP.index(a), _BP.index(b)) for a, b in _BONE_NAMES])
JOINTS = np.unique(BONES)
# distinct BGR colours for person ids
PALETTE = np.array([(0, 200, 255), (255, 120, 0), (80, 220, 80), (220, 60, 220), (255, 255, 0), (0, 80, 255)],
                   dtype=np.int32)


def draw_frame(frame_bgr: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, ids: list[int],
               label: str | None = None, min_score: float = 0.3,
               person_labels: list[str | None] | None = None) -> np.ndarray:
    """Draw persons (P, 33, 2) pixels / (P, 33) scores with their ids (and each one's own current label over
    their head, when given), and a label banner for the window, in place."""
    h, w = frame_bgr.shape[:2]
    thick = max(1, round(min(h, w) / 270))
    for kp, sc, pid, own in zip(keypoints, scores, ids, person_labels or [None] * len(ids)):
        color = tuple(int(c) for c in PALETTE[pid % len(PALETTE)])
        pts = np.round(kp).astype(np.int32)
        ok_bone = (sc[BONES] >= min_score).all(axis=1)
        if ok_bone.any():
            cv2.polylines(frame_bgr, list(pts[BONES[ok_bone]]), False, color, thick, cv2.LINE_AA)
        ok_joint = JOINTS[sc[JOINTS] >= min_score]
        if ok_joint.size:
            dots = np.repeat(pts[ok_joint][:, None, :], 2, axis=1)  # zero-length segments = round dots
            cv2.polylines(frame_bgr, list(dots), False, color, 3 * thick, cv2.LINE_AA)
        vis = sc >= min_score
        anchor = pts[vis].min(axis=0) if vis.any() else pts.min(axis=0)
        cv2.putText(frame_bgr, f"id {pid}: {own}" if own else f"id {pid}", (int(anchor[0]), max(12, int(anchor[1]) - 6)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, color, thick, cv2.LINE_AA)
    if label:
        scale = 0.5 * thick
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        cv2.rectangle(frame_bgr, (0, 0), (min(w, tw + 12), th + base + 12), (0, 0, 0), -1)
        cv2.putText(frame_bgr, label, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                    cv2.LINE_AA)
    return frame_bgr


def write_overlay(frames_bgr: Iterable[np.ndarray], out_path: str | os.PathLike, fps: float, poses: VideoPoses,
                  labels: list[str | None], on_frame: Callable[[], None] | None = None,
                  person_labels: dict[int, list[str | None]] | None = None) -> int:
    """Write the video with tracks and per-frame labels (mp4v); returns the number of frames written.

    `frames_bgr` are the video's frames at any resolution (keypoints are scaled from the size in `poses`).
    """
    out_path = Path(out_path)
    with atomic_path(out_path, suffix=out_path.suffix or ".mp4") as tmp:
        return _write(frames_bgr, str(tmp), out_path, fps, poses, labels, on_frame, person_labels or {})


def _write(frames_bgr, tmp: str, out_path: Path, fps: float, poses: VideoPoses, labels: list[str | None],
           on_frame: Callable[[], None] | None, person_labels: dict[int, list[str | None]]) -> int:
    writer = None
    n = 0
    kp = np.stack([t.keypoints for t in poses.tracks]) if poses.tracks else np.zeros((0, poses.frames, 33, 2))
    sc = np.stack([t.scores for t in poses.tracks]) if poses.tracks else np.zeros((0, poses.frames, 33))
    present = np.stack([t.present for t in poses.tracks]) if poses.tracks else np.zeros((0, poses.frames), bool)
    track_ids = [t.id for t in poses.tracks]
    try:
        for t, frame in enumerate(frames_bgr):
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(fps or 25.0), (w, h))
                if not writer.isOpened():
                    raise OSError(f"{out_path}: OpenCV cannot write an mp4v video here")
                scale = np.array([w / max(poses.width, 1), h / max(poses.height, 1)], np.float32)
            frame = np.ascontiguousarray(frame)
            if t < poses.frames:
                on = np.flatnonzero(present[:, t])
                own = [person_labels[track_ids[k]][t] if track_ids[k] in person_labels else None for k in on]
                draw_frame(frame, kp[on, t] * scale, sc[on, t], [track_ids[k] for k in on],
                           labels[t] if t < len(labels) else None, person_labels=own)
            writer.write(frame)
            n += 1
            if on_frame is not None:
                on_frame()
        if writer is None:
            raise ValueError(f"{out_path}: no frames to write")
    finally:
        if writer is not None:
            writer.release()
    return n
