"""Pictures of the pose stream's input: per-joint Gaussian heatmaps over the RGB frame.

Left: the frame with the max over joints of each joint's heatmap (the same renderer the model uses, drawn
at frame scale) and the Kinect joints as dots, so one sees 2D pose and Kinect agree. Right: the 25 per-joint
maps exactly as the model's pose stream receives them (unit person box, model resolution).
"""
from __future__ import annotations

import numpy as np

from models.heatmaps import normalize_to_person_box, render_heatmaps
from models.layouts import get_layout


def heatmap_overlay(frame_bgr: np.ndarray, pose_kp: np.ndarray, pose_sc: np.ndarray, kinect_xy: np.ndarray | None,
                    clip_kp: np.ndarray, clip_sc: np.ndarray, layout: str = "ntu25", model_size: int = 12,
                    sigma_px: float = 10.0) -> np.ndarray:
    """frame (H, W, 3); pose_kp (V, 2) px, pose_sc (V,) of this frame; clip_kp/clip_sc (T, V, ...) of the clip."""
    import cv2

    h, w = frame_bgr.shape[:2]
    scale = 4
    gh, gw = h // scale, w // scale
    unit = pose_kp / np.array([w, h], np.float32)
    maps = render_heatmaps(unit, pose_sc, size=(gh, gw), sigma=sigma_px / scale).max(0)
    heat = cv2.resize((maps * 255).clip(0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    color = cv2.applyColorMap(heat, cv2.COLORMAP_JET)
    alpha = (heat.astype(np.float32) / 255 * 0.65)[..., None]
    out = (frame_bgr * (1 - alpha) + color * alpha).astype(np.uint8)
    lay = get_layout(layout)
    for v, p in lay.edges:
        if pose_sc[v] > 0 and pose_sc[p] > 0:
            cv2.line(out, tuple(int(c) for c in pose_kp[v]), tuple(int(c) for c in pose_kp[p]), (255, 255, 255), 2)
    if kinect_xy is not None:
        for x, y in kinect_xy:
            if x or y:
                cv2.circle(out, (int(x), int(y)), 5, (0, 255, 0), -1)
    # the model's view: 25 per-joint maps in the unit person box
    box = normalize_to_person_box(clip_kp[None], clip_sc[None])[0]  # (T, V, 2)
    t = clip_kp.shape[0] // 2
    small = render_heatmaps(box[t], clip_sc[t], size=(model_size, model_size), sigma=1.0)  # (V, s, s)
    cols = 5
    rows = int(np.ceil(lay.num_joints / cols))
    cell = h // rows - 6
    panel = np.full((h, cols * (cell + 6) + 6, 3), 30, np.uint8)
    for v in range(lay.num_joints):
        r, c = divmod(v, cols)
        tile = cv2.resize((small[v] * 255).clip(0, 255).astype(np.uint8), (cell, cell), interpolation=cv2.INTER_NEAREST)
        tile = cv2.applyColorMap(tile, cv2.COLORMAP_JET)
        y0, x0 = 6 + r * (cell + 6), 6 + c * (cell + 6)
        panel[y0:y0 + cell, x0:x0 + cell] = tile
        cv2.putText(panel, lay.joint_names[v][:14], (x0 + 3, y0 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return np.concatenate([out, panel], axis=1)
