"""How well the estimated 2D pose matches the Kinect colour-space joints (the alignment check).

PCK@0.1H: a joint counts as correct when it lies within 0.1 x the person's height (in pixels) of the Kinect
joint; height is the median over frames of the vertical extent of the body's Kinect colour joints. Measured
over the 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles) in every frame where the Kinect
body exists: a frame where the estimator found nobody counts as wrong, not as missing.
"""
from __future__ import annotations

import numpy as np

from models.layouts import NTU25

LIMB_JOINTS = [NTU25.index(f"{s}_{j}") for s in ("left", "right")
               for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]


def alignment_quality(pose_kp: np.ndarray, pose_sc: np.ndarray, kinect_xy: np.ndarray) -> dict:
    """pose (M, T, 25, 2) + scores vs Kinect colour joints (M, T, 25, 2) -> mean_px_error, pck_0.1h, ..."""
    t = min(pose_kp.shape[1], kinect_xy.shape[1])
    pose, score, ref = pose_kp[:, :t, LIMB_JOINTS], pose_sc[:, :t, LIMB_JOINTS], kinect_xy[:, :t, LIMB_JOINTS]
    body = np.abs(kinect_xy[:, :t]).sum(-1) > 0  # (M, T, 25)
    present = body.any(-1)  # (M, T)
    ys = np.where(body, kinect_xy[:, :t, :, 1], np.nan)
    with np.errstate(all="ignore"):
        height = np.nanmedian(np.nanmax(ys, -1) - np.nanmin(ys, -1), axis=1)  # (M,)
    err = np.linalg.norm(pose - ref, axis=-1)  # (M, T, 12)
    detected = (score > 0) & present[..., None]
    considered = np.broadcast_to(present[..., None], err.shape)
    correct = detected & (err <= 0.1 * height[:, None, None])
    n = int(considered.sum())
    return dict(
        pck_0_1h=float(correct.sum() / n) if n else float("nan"),
        mean_px_error=float(err[detected].mean()) if detected.any() else float("nan"),
        median_px_error=float(np.median(err[detected])) if detected.any() else float("nan"),
        detected_fraction=float(detected.sum() / n) if n else 0.0,
        person_height_px=float(np.nanmean(height)) if np.isfinite(height).any() else float("nan"),
    )
