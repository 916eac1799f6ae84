"""Cutting a clip into the windows the model labels, choosing who is in each, and a label per frame."""
from __future__ import annotations

import numpy as np


def plan_windows(frames: int, window: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) windows of `window` frames every `stride`, the last one flush with the clip's end."""
    if frames <= 0:
        return []
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive, got {window} and {stride}")
    if frames <= window:
        return [(0, frames)]
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return [(s, s + window) for s in starts]


def pick_persons(present: np.ndarray, start: int, end: int, max_persons: int) -> np.ndarray:
    """Track indices (K,) of the persons seen in most frames of [start, end), at most `max_persons`,
    in track order (order of first appearance, as body order in training follows appearance)."""
    counts = present[:, start:end].sum(axis=1)  # (K,)
    order = np.argsort(-counts, kind="stable")[:max_persons]
    order = order[counts[order] > 0]
    return np.sort(order)


def window_and_stride(predictor, fps: float, window: int | None, stride: int | None,
                      default_window: int) -> tuple[int, int]:
    """Window and stride in frames of a video at `fps`: the user's, else the model's clip length (the same
    duration when it was trained on time-resampled clips), else the window its config names
    (`video_window`, frames: the test pipeline then samples its clip from it), else its clip length, else
    `default_window`; stride half a window."""
    if window is None and predictor.clip_len and predictor.resample_fps:
        window = max(1, round(predictor.clip_len * fps / predictor.resample_fps))
    window = int(window or getattr(predictor, "window", None) or predictor.clip_len or default_window)
    return window, int(stride or max(1, window // 2))


def person_groups(present: np.ndarray, start: int, end: int, num_person: int, min_presence: float) -> list[np.ndarray]:
    """Who gets labelled in the window [start, end): groups of track indices, one model input each, whose
    prediction belongs to every member. A model trained on pairs (NTU) sees the window's pair together; a
    one-person model sees each person present in at least `min_presence` of the window on their own (and
    the window's most-seen person always)."""
    persons = pick_persons(present, start, end, num_person)
    if num_person > 1:
        return [persons] if persons.size else []
    enough = np.flatnonzero(present[:, start:end].mean(axis=1) >= min_presence)
    return [np.array([k]) for k in sorted(set(enough.tolist()) | set(persons.tolist()))]


def label_per_frame(frames: int, windows: list[tuple[int, int]], window_probs: np.ndarray,
                    class_names: list[str]) -> list[str | None]:
    """The label shown on each frame: that of the labelled window whose centre is nearest."""
    ok = np.flatnonzero(np.isfinite(window_probs).all(axis=1)) if len(window_probs) else np.zeros(0, int)
    if ok.size == 0:
        return [None] * frames
    centres = np.array([(windows[i][0] + windows[i][1] - 1) / 2 for i in ok])
    nearest = ok[np.abs(np.arange(frames)[:, None] - centres[None, :]).argmin(axis=1)]  # (T,)
    best = window_probs[ok].argmax(axis=1)
    text = {int(i): f"{class_names[b]} {window_probs[i, b]:.2f}" for i, b in zip(ok, best)}
    return [text[int(i)] for i in nearest]
