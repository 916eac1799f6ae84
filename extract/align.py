"""2D pose for every Kinect body of an NTU clip, joint by joint and person by person.

mmaction2's NTU extraction detects people afresh and never links its 2D person m to Kinect body m. Here the
Kinect body itself says where to look: for each body and frame, its colour-space joints (colorX/colorY)
give a box, the estimator runs on that crop only, and its keypoints are mapped back to full-frame pixels
and into the NTU-25 layout. So pose_keypoint[m] is always body m, in the Kinect joint order.

NTU RGB frames are mirrored relative to the performer (`NTU_RGB_MIRRORED`): the estimator's LEFT landmarks
are the performer's RIGHT joints, which `map_keypoints(..., mirrored=True)` swaps explicitly. RGB frame i
belongs to skeleton frame i; when the counts differ the common range is used and recorded (pose_frames).
Frames are streamed at reduced resolution (DECODE_WIDTH) and each crop is cut from that.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from models.layouts import get_layout

from .mapping import map_keypoints, world_to_kinect
from .quality import alignment_quality
from .video import iter_frames, prefetch, probe_video

NTU_RGB_MIRRORED = True
DECODE_WIDTH = 960
BOX_PAD = 0.25  # fraction of the box side added around the Kinect joints


def body_box(color_xy: np.ndarray, frame_wh: tuple[int, int], pad: float = BOX_PAD) -> tuple[int, int, int, int] | None:
    """Square box around one body's colour-space joints (V, 2), padded and clipped; None if absent."""
    valid = np.abs(color_xy).sum(-1) > 0
    if valid.sum() < 2:
        return None
    pts = color_xy[valid]
    lo, hi = pts.min(0), pts.max(0)
    side = (hi - lo).max() * (1 + 2 * pad)
    cx, cy = (lo + hi) / 2
    w, h = frame_wh
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return x0, y0, x1, y1


def estimate_sample_pose(video_path: Path, record: dict, estimator, mirrored: bool = NTU_RGB_MIRRORED,
                         min_frame_ratio: float = 0.9) -> dict:
    """2D pose (+ 3D world joints) for every Kinect body of the record, from its RGB video.

    A video that yields fewer than `min_frame_ratio` of the skeleton's frames (truncated, corrupt, or not
    this sample's video) fails the sample: pose on a fraction of the clip would pass for a good one."""
    info = probe_video(video_path)
    color = record["kinect_color"]  # (M, T, 25, 2) full-resolution pixels
    m, t_skel = color.shape[:2]
    t = min(t_skel, info["frames"])
    scale = min(1.0, DECODE_WIDTH / info["width"])
    k = get_layout(estimator.layout).num_joints  # the estimator's own joints (BlazePose 33, COCO 17)
    kp_est = np.zeros((m, t_skel, k, 2), np.float32)
    sc_est = np.zeros((m, t_skel, k), np.float32)
    world_est = np.zeros((m, t_skel, k, 3), np.float32)
    # decoding starts first, so the first frames are ready when the pose sessions have started up
    decoded = 0
    with prefetch(iter_frames(video_path, max_width=DECODE_WIDTH)) as frames:
        sessions = [estimator.new_session() for _ in range(m)]
        try:
            for i, frame in enumerate(frames):
                if i >= t:
                    break
                decoded = i + 1
                fh, fw = frame.shape[:2]
                for b in range(m):
                    box = body_box(color[b, i] * scale, (fw, fh))
                    if box is None:
                        continue
                    x0, y0, x1, y1 = box
                    out = sessions[b].estimate(np.ascontiguousarray(frame[y0:y1, x0:x1]))
                    if out is None:
                        continue
                    kp, score, world = out
                    kp_est[b, i] = (kp + (x0, y0)) / scale
                    sc_est[b, i] = score
                    if world is not None:
                        world_est[b, i] = world
        finally:
            for s in sessions:
                s.close()
    if decoded < min_frame_ratio * t_skel:
        raise ValueError(f"{video_path}: only {decoded} of the skeleton's {t_skel} frames could be decoded from "
                         f"the RGB video (below {min_frame_ratio:.0%}: truncated, corrupt, or another clip)")
    t = decoded
    pose_kp, pose_sc = map_keypoints(kp_est, sc_est, estimator.layout, "ntu25", mirrored=mirrored)
    out = dict(pose_keypoint=pose_kp, pose_score=pose_sc, pose_source=estimator.name, pose_mirrored=mirrored,
               pose_frames=t)
    if estimator.has_world:
        world, _ = map_keypoints(world_est, sc_est, estimator.layout, "ntu25", mirrored=mirrored)
        world = world_to_kinect(world, mirrored=mirrored)
        world[pose_sc.max(-1) == 0] = 0
        out["pose_world"] = world.astype(np.float32)
    quality = alignment_quality(pose_kp, pose_sc, color)
    quality.update(frames_rgb=int(info["frames"]), frames_skeleton=int(t_skel), frames_used=int(t))
    out["quality"] = quality
    return out
