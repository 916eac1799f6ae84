"""Tracked poses -> annotation-style records, so a video window reaches the model exactly as training data did.

keypoint := the estimator's 3D joints mapped to the checkpoint's layout in Kinect axes; pose_keypoint /
pose_score in full-frame pixels; pose_mirrored=False (an ordinary camera); absent frames exact zeros.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from extract.mapping import map_keypoints, world_to_kinect


@dataclass
class MappedTracks:
    """Tracks mapped to the model's layout. keypoint/pose_world (K, T, V, 3) Kinect axes, metres;
    pose_keypoint (K, T, V, 2) pixels; pose_score (K, T, V); present (K, T)."""

    ids: list[int]
    keypoint: np.ndarray
    pose_keypoint: np.ndarray
    pose_score: np.ndarray
    present: np.ndarray


def map_tracks(poses, layout: str) -> MappedTracks:
    """BlazePose-33 tracks -> the checkpoint's joint layout (ordinary video: not mirrored)."""
    if not poses.tracks:
        z = np.zeros((0, poses.frames), bool)
        return MappedTracks([], np.zeros((0, poses.frames, 0, 3), np.float32),
                            np.zeros((0, poses.frames, 0, 2), np.float32), np.zeros((0, poses.frames, 0), np.float32), z)
    kp = np.stack([t.keypoints for t in poses.tracks])  # (K, T, 33, 2)
    sc = np.stack([t.scores for t in poses.tracks])  # (K, T, 33)
    wd = np.stack([t.world for t in poses.tracks])  # (K, T, 33, 3), MediaPipe axes
    present = np.stack([t.present for t in poses.tracks])  # (K, T)
    pk, ps = map_keypoints(kp, sc, source="blazepose33", target=layout, mirrored=False)
    world, _ = map_keypoints(wd, sc, source="blazepose33", target=layout, mirrored=False)
    world = world_to_kinect(world, mirrored=False)
    absent = ~present
    pk[absent], ps[absent], world[absent] = 0, 0, 0  # absent frames are exact zeros, as in training
    return MappedTracks([t.id for t in poses.tracks], world.astype(np.float32), pk.astype(np.float32),
                        ps.astype(np.float32), present)


def build_record(mapped: MappedTracks, persons: np.ndarray, start: int, end: int, name: str,
                 size: tuple[int, int], layout: str, fps: float | None = None) -> dict:
    """One window as an annotation record (docs/ARCHITECTURE.md) without a label; `fps` lets a pipeline
    that samples by time (ResampleFps) treat it like the clips it was trained on."""
    sl = (persons, slice(start, end))
    world = mapped.keypoint[sl]  # (M, T, V, 3)
    return dict(fps=fps,
        frame_dir=name, total_frames=end - start, img_shape=tuple(size), original_shape=tuple(size), layout=layout,
        keypoint=world.copy(), pose_world=world.copy(), pose_keypoint=mapped.pose_keypoint[sl].copy(),
        pose_score=mapped.pose_score[sl].copy(), pose_source="mediapipe", pose_mirrored=False,
        pose_frames=end - start,
    )
