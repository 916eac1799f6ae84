"""How well people are followed, against ground truth counted by eye: coverage and identity switches.

The ground truth of a clip (tests/assets/videos/tracking_gt.json) says, for each person, the frames where
they are visible and the horizontal band their body stays in (in the video's own pixels). That is
enough for the clips we ship, where people do not cross each other's band, and it needs no boxes drawn by
hand. A track counts for a person in a frame when its anchor is in that person's band: the mean x of its
seen hips, knees and ankles (heads come together in a hug, feet do not), else of all its seen joints
(close-ups without legs).
"""
from __future__ import annotations

import numpy as np

from models.layouts import get_layout

_LEGS = np.array([get_layout("blazepose33").index(f"{side}_{part}") for side in ("left", "right")
                  for part in ("hip", "knee", "ankle")])


def anchor_x(keypoints: np.ndarray, scores: np.ndarray, min_score: float = 0.5) -> np.ndarray:
    """(T, 33, 2), (T, 33) -> (T,) the body's anchor x per frame (NaN where nothing is seen)."""
    seen = scores >= min_score
    legs = np.isin(np.arange(scores.shape[1]), _LEGS)[None] & seen
    use = np.where(legs.any(axis=1, keepdims=True), legs, seen)
    n = use.sum(axis=1)
    x = np.where(use, keypoints[..., 0], 0.0).sum(axis=1)
    return np.where(n > 0, x / np.maximum(n, 1), np.nan)


def follow_report(tracks, persons: list[dict]) -> list[dict]:
    """Per ground-truth person {name, frames: [start, end), body_x: [lo, hi)} -> their coverage (share of
    visible frames where some track is on them), the ids that covered them, the one that covered them most
    (`main_id`) and the identity switches (changes of the covering id from one covered frame to the next)."""
    anchors = [(t.id, np.where(t.present, anchor_x(t.keypoints, t.scores), np.nan)) for t in tracks]
    out = []
    for p in persons:
        a, b = p["frames"]
        lo, hi = p["body_x"]
        sequence = []
        for t in range(a, b):
            on = [tid for tid, x in anchors if t < len(x) and lo <= x[t] < hi]
            sequence.append(on)
        totals: dict[int, int] = {}
        for on in sequence:
            for tid in on:
                totals[tid] = totals.get(tid, 0) + 1
        chosen = [max(on, key=lambda i: totals[i]) for on in sequence if on]
        switches = sum(1 for x, y in zip(chosen, chosen[1:]) if x != y)
        main = max(set(chosen), key=chosen.count) if chosen else None
        out.append(dict(name=p["name"], visible=b - a, covered=len(chosen), coverage=len(chosen) / max(b - a, 1),
                        ids=sorted(totals), main_id=main, switches=switches))
    return out
