"""Stable person ids for a pose estimator whose output order changes from frame to frame.

MediaPipe's PoseLandmarker returns its poses in no fixed order, sometimes twice for one person (once
mirrored, left and right swapped), and loses people for a few frames. A small tracker is enough for the
two people a skeleton model takes: match each pose to a live track by box overlap plus keypoint distance,
keep an unmatched track alive for `max_lost` frames (so a brief miss does not mint a new id), and drop a
pose that repeats another one of the same frame. All comparisons are pairwise arrays, no joint loops.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.layouts import get_layout

_BP = get_layout("blazepose33")
# body joints that shape a person's box and identity: nose, shoulders, elbows, wrists, hips, knees, ankles
TRACK_JOINTS = np.array([_BP.index(n) for n in (
    "nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")])
_FLIP = _BP.flip_index


def pose_boxes(keypoints: np.ndarray, scores: np.ndarray, min_score: float = 0.3) -> np.ndarray:
    """(P, V, 2), (P, V) -> (P, 4) boxes x0, y0, x1, y1 of the confident joints (all joints if none is)."""
    if len(keypoints) == 0:
        return np.zeros((0, 4), np.float32)
    ok = scores >= min_score
    ok = np.where(ok.any(axis=1, keepdims=True), ok, True)
    big = np.float32(np.inf)
    lo = np.where(ok[..., None], keypoints, big).min(axis=1)
    hi = np.where(ok[..., None], keypoints, -big).max(axis=1)
    return np.concatenate([lo, hi], axis=1).astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, 4), (B, 4) -> (A, B) intersection over union."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def keypoint_distance(ka: np.ndarray, sa: np.ndarray, kb: np.ndarray, sb: np.ndarray,
                      allow_mirror: bool = True) -> np.ndarray:
    """(A, B) mean distance of the tracking joints, confidence-weighted, over the mean box diagonal.

    With `allow_mirror`, b is also compared with its left/right-swapped self and the smaller distance
    counts: a mirrored duplicate or a left/right flip is still the same person.
    """
    if len(ka) == 0 or len(kb) == 0:
        return np.zeros((len(ka), len(kb)), np.float32)
    diag_a = np.linalg.norm(np.diff(pose_boxes(ka, sa).reshape(-1, 2, 2), axis=1)[:, 0], axis=1)
    diag_b = np.linalg.norm(np.diff(pose_boxes(kb, sb).reshape(-1, 2, 2), axis=1)[:, 0], axis=1)
    scale = np.maximum((diag_a[:, None] + diag_b[None, :]) / 2, 1e-6)  # (A, B)

    def dist(kb_, sb_):
        d = np.linalg.norm(ka[:, None, TRACK_JOINTS] - kb_[None, :, TRACK_JOINTS], axis=-1)  # (A, B, J)
        w = np.minimum(sa[:, None, TRACK_JOINTS], sb_[None, :, TRACK_JOINTS]) + 1e-3
        return (d * w).sum(-1) / w.sum(-1)

    out = dist(kb, sb)
    if allow_mirror:
        out = np.minimum(out, dist(kb[:, _FLIP], sb[:, _FLIP]))
    return (out / scale).astype(np.float32)


def match_cost(ka: np.ndarray, sa: np.ndarray, kb: np.ndarray, sb: np.ndarray, min_iou: float = 0.1,
               max_distance: float = 0.5) -> np.ndarray:
    """(A, B) cost of pose b continuing pose a: (1 - box IoU) + keypoint distance; inf where neither do the
    boxes overlap (IoU >= min_iou) nor are the keypoints close (<= max_distance box diagonals)."""
    iou = box_iou(pose_boxes(ka, sa), pose_boxes(kb, sb))
    dist = keypoint_distance(ka, sa, kb, sb)
    return np.where((iou >= min_iou) | (dist <= max_distance), (1.0 - iou) + dist, np.inf)


def drop_duplicates(keypoints: np.ndarray, scores: np.ndarray, threshold: float = 0.12) -> np.ndarray:
    """Boolean keep-mask (P,): of two poses closer than `threshold` (mirrored or not), keep the more confident."""
    P = len(keypoints)
    keep = np.ones(P, bool)
    if P < 2:
        return keep
    d = keypoint_distance(keypoints, scores, keypoints, scores)
    conf = scores[:, TRACK_JOINTS].mean(axis=1)
    for i, j in zip(*np.nonzero(np.triu(d < threshold, k=1))):  # pairs, at most a handful per frame
        if keep[i] and keep[j]:
            keep[j if conf[i] >= conf[j] else i] = False
    return keep


@dataclass
class _Track:
    id: int
    keypoints: np.ndarray  # (V, 2) last seen
    scores: np.ndarray  # (V,)
    lost: int = 0


class PoseTracker:
    """Greedy pose-to-track matching on cost = (1 - box IoU) + keypoint distance.

    A pair may match when the boxes overlap (IoU >= min_iou) or the keypoints are close (distance <=
    max_distance, in box diagonals). Ids count up from 0 in order of first appearance and are never reused.
    """

    def __init__(self, max_lost: int = 15, min_iou: float = 0.1, max_distance: float = 0.5,
                 duplicate_threshold: float = 0.12):
        self.max_lost = max_lost
        self.min_iou = min_iou
        self.max_distance = max_distance
        self.duplicate_threshold = duplicate_threshold
        self.tracks: list[_Track] = []
        self._next_id = 0

    def update(self, keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Poses of one frame (P, V, 2) pixels, (P, V) scores -> ids (P,); -1 marks a dropped duplicate."""
        keypoints = np.asarray(keypoints, np.float32)
        scores = np.asarray(scores, np.float32)
        P = len(keypoints)
        ids = np.full(P, -1, np.int64)
        keep = drop_duplicates(keypoints, scores, self.duplicate_threshold) if P else np.zeros(0, bool)
        cand = np.flatnonzero(keep)
        matched_tracks: set[int] = set()
        if self.tracks and cand.size:
            tk = np.stack([t.keypoints for t in self.tracks])
            ts = np.stack([t.scores for t in self.tracks])
            kp, sc = keypoints[cand], scores[cand]
            cost = match_cost(tk, ts, kp, sc, self.min_iou, self.max_distance)  # (K, C)
            for flat in np.argsort(cost, axis=None):
                k, c = np.unravel_index(flat, cost.shape)
                if not np.isfinite(cost[k, c]):
                    break
                if k in matched_tracks or ids[cand[c]] >= 0:
                    continue
                matched_tracks.add(int(k))
                ids[cand[c]] = self.tracks[k].id
                t = self.tracks[k]
                t.keypoints, t.scores, t.lost = kp[c], sc[c], 0
        for k, t in enumerate(self.tracks):
            if k not in matched_tracks:
                t.lost += 1
        self.tracks = [t for t in self.tracks if t.lost <= self.max_lost]
        for p in cand:
            if ids[p] < 0:
                ids[p] = self._next_id
                self.tracks.append(_Track(self._next_id, keypoints[p], scores[p]))
                self._next_id += 1
        return ids
