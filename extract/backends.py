"""Pose estimator backends behind one small interface.

An estimator is made per tracked person (`new_session()`), because MediaPipe's video mode carries tracking
state from frame to frame and two people must not share it. `estimate(rgb_crop)` returns keypoints in crop
pixels, per-landmark scores and 3D world landmarks (or None when nobody is found), in the backend's own
joint layout (`layout`); extract/mapping.py turns that into the skeleton's layout.
"""
from __future__ import annotations

import os
from typing import Protocol

import numpy as np


class PoseSession(Protocol):
    def estimate(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None: ...
    def close(self) -> None: ...


class MediaPipeEstimator:
    """BlazePose (mediapipe 0.10.21, whose wheel carries the 'full' model: works offline)."""

    name = "mediapipe"
    layout = "blazepose33"
    has_world = True

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5):
        os.environ.setdefault("GLOG_minloglevel", "2")
        self.det, self.track = min_detection_confidence, min_tracking_confidence

    def new_session(self) -> "_MediaPipeSession":
        return _MediaPipeSession(self.det, self.track)


class _MediaPipeSession:
    def __init__(self, det: float, track: float):
        import mediapipe as mp

        self.pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                           min_detection_confidence=det, min_tracking_confidence=track)

    def estimate(self, rgb: np.ndarray):
        res = self.pose.process(rgb)
        if res.pose_landmarks is None:
            return None
        h, w = rgb.shape[:2]
        lm = res.pose_landmarks.landmark
        kp = np.array([[p.x * w, p.y * h] for p in lm], np.float32)
        score = np.array([p.visibility for p in lm], np.float32)
        world = None
        if res.pose_world_landmarks is not None:
            world = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark], np.float32)
        return kp, score, world

    def close(self) -> None:
        self.pose.close()


def build_estimator(name: str, config: str | None = None, checkpoint: str | None = None, device: str = "cpu"):
    if name == "mediapipe":
        return MediaPipeEstimator()
    if name == "mmpose":
        raise ValueError("POSE=mmpose is not available yet in this version (see the README, Extraction); "
                         "use POSE=mediapipe")
    raise ValueError(f"unknown pose backend {name!r}; expected mediapipe or mmpose")
