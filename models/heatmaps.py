"""Per-joint Gaussian heatmaps from 2D keypoints, rendered on the fly.

Storing heatmaps for NTU-120 would take terabytes, so the dataset keeps keypoints + scores and this
renderer draws them when needed: in the model's pose stream during training and video inference alike
(torch tensors, on whatever device the model runs), and for pictures (numpy). The Gaussian is separable,
so a (H, W) map is the outer product of a row and a column profile: no per-joint or per-pixel loops.

Coordinates are normalised to the unit square of a person box first (`normalize_to_person_box`), so a
heatmap shows the pose's shape at a fixed resolution whatever the frame size.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np


def _is_torch(x: Any) -> bool:
    """Whether x is a torch tensor, without importing torch: if nothing imported it, x cannot be one. So
    the numpy users (the data pipeline, pictures, the ONNX predictor) never pay torch's ~2 s import."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def render_heatmaps(coords: Any, scores: Any, size: tuple[int, int] = (16, 16), sigma: float = 1.0) -> Any:
    """Render one Gaussian heatmap per joint.

    coords: (..., V, 2) x, y in [0, 1] (unit person box); scores: (..., V) in [0, 1], the peak height
    (0 = joint missing, which gives an all-zero map). Returns (..., V, H, W) float32, same library as coords.
    sigma is in heatmap pixels.
    """
    h, w = size
    if _is_torch(coords):
        torch = sys.modules["torch"]
        gy = torch.arange(h, dtype=coords.dtype, device=coords.device)
        gx = torch.arange(w, dtype=coords.dtype, device=coords.device)
        exp = torch.exp
    else:
        coords = np.asarray(coords, dtype=np.float32)
        scores = np.asarray(scores, dtype=np.float32)
        gy = np.arange(h, dtype=np.float32)
        gx = np.arange(w, dtype=np.float32)
        exp = np.exp
    x = coords[..., 0:1] * (w - 1)  # (..., V, 1)
    y = coords[..., 1:2] * (h - 1)
    inv = 1.0 / (2.0 * sigma * sigma)
    col = exp(-((gx - x) ** 2) * inv)  # (..., V, W)
    row = exp(-((gy - y) ** 2) * inv) * scores[..., None]  # (..., V, H), peak = score
    return row[..., :, None] * col[..., None, :]


def normalize_to_person_box(keypoints: np.ndarray, scores: np.ndarray, margin: float = 0.15,
                            min_score: float = 0.05) -> np.ndarray:
    """Map pixel keypoints (M, T, V, 2) into the unit square of each person's clip-level box.

    One square box per person over the whole clip (not per frame), so movement across the frame stays
    visible in the heatmaps; `margin` pads it by that fraction of its side. Joints with score below
    `min_score` do not shape the box. Persons with no confident joint get all-0.5 coordinates (their
    scores are 0, so their heatmaps are empty anyway). Returns float32 (M, T, V, 2), clipped to [0, 1].
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    valid = np.asarray(scores) >= min_score  # (M, T, V)
    big = np.float32(np.inf)
    lo = np.where(valid[..., None], keypoints, big).min(axis=(1, 2))  # (M, 2)
    hi = np.where(valid[..., None], keypoints, -big).max(axis=(1, 2))
    has = valid.any(axis=(1, 2))
    with np.errstate(invalid="ignore"):  # persons without a confident joint: inf - inf, replaced just below
        centre = np.where(has[:, None], (lo + hi) / 2, 0.0)
        side = np.where(has, (hi - lo).max(axis=1), 1.0)
    side = np.maximum(side * (1 + 2 * margin), 1e-6)
    out = (keypoints - centre[:, None, None, :]) / side[:, None, None, None] + 0.5
    out[~has] = 0.5
    return np.clip(out, 0.0, 1.0).astype(np.float32)
