"""Pose estimator backends behind one small interface.

An estimator is made per tracked person (`new_session()`), because MediaPipe's video mode carries tracking
state from frame to frame and two people must not share it. `estimate(rgb_crop)` returns keypoints in crop
pixels, per-landmark scores and 3D world landmarks (or None when nobody is found), in the backend's own
joint layout (`layout`); extract/mapping.py turns that into the skeleton's layout.
MediaPipe appears twice: here the legacy solutions API, one tracker per Kinect body's crop (what NTU extraction
needs), and in extract/multiperson.py the Tasks landmarker, many people in a full frame (what ordinary video needs).
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
        self._idle: list[_MediaPipeSession] = []

    def new_session(self) -> "_MediaPipeSession":
        """A fresh tracking session; a closed one is restarted rather than rebuilt (0.09 s vs 0.15 s of
        start-up on this CPU, per body and clip: a few % of a 100-frame NTU clip)."""
        if self._idle:
            session = self._idle.pop()
            session.pose.reset()  # restarts the graph: no tracking state crosses clips
            return session
        return _MediaPipeSession(self)


class _MediaPipeSession:
    def __init__(self, owner: MediaPipeEstimator):
        import mediapipe as mp

        self.owner = owner
        self.pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                           min_detection_confidence=owner.det, min_tracking_confidence=owner.track)

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
        """Back to the estimator's idle pool (at most two kept: one per NTU body)."""
        if len(self.owner._idle) < 2:
            self.owner._idle.append(self)
        else:
            self.pose.close()


class MMPoseEstimator:
    """A top-down mmpose model (RTMPose, HRNet, ...) from the user's config and checkpoint files.

    Each call gets one person crop (the Kinect body's box), which is the top-down model's whole input box.
    COCO-17 output; extract/mapping.py derives the NTU joints and gives the ones COCO lacks score 0.
    No 3D. The checkpoint is read with `torch.load(weights_only=True)`: OpenMMLab checkpoints are plain
    tensors plus a `meta` dict, so a file that needs arbitrary unpickling is refused, not executed.
    """

    name = "mmpose"
    layout = "coco17"
    has_world = False

    def __init__(self, config: str, checkpoint: str | None, device: str = "cpu",
                 allow_random_weights: bool = False):
        import torch

        from .mmpose_compat import install_placeholders

        install_placeholders()
        try:
            from mmpose.apis import inference_topdown, init_model
        except ImportError as e:
            raise RuntimeError(f"POSE=mmpose needs the mmpose extra: run `make setup-mmpose` ({e})") from None
        config_path = _resolve_mmpose_config(config)
        if checkpoint is None and not allow_random_weights:
            raise ValueError(f"{config_path}: POSE=mmpose needs POSE_CHECKPOINT= (trained weights for this config)")
        model = init_model(str(config_path), None, device=device)
        if checkpoint is not None:
            try:
                state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 - torch raises several types for bad files
                raise ValueError(f"{checkpoint}: not a readable weights-only checkpoint ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:160]})") from None
            state = state.get("state_dict", state) if isinstance(state, dict) else state
            if not isinstance(state, dict) or not state:
                raise ValueError(f"{checkpoint}: holds no state_dict")
            result = model.load_state_dict(state, strict=False)
            if result.missing_keys:
                raise ValueError(f"{checkpoint}: does not match {config_path.name} "
                                 f"({len(result.missing_keys)} weights missing, e.g. {result.missing_keys[0]})")
        model.eval()
        num = model.dataset_meta.get("num_keypoints") if model.dataset_meta else None
        if num is not None and num != 17:
            raise ValueError(f"{config_path}: a {num}-keypoint model; POSE=mmpose expects a COCO-17 body model")
        self.model, self._infer, self.config = model, inference_topdown, config_path

    def new_session(self) -> "_MMPoseSession":
        return _MMPoseSession(self)

    def estimate_crop(self, rgb: np.ndarray):
        h, w = rgb.shape[:2]
        bgr = np.ascontiguousarray(rgb[..., ::-1])  # OpenMMLab models take BGR images
        sample = self._infer(self.model, bgr, np.array([[0, 0, w, h]], np.float32), bbox_format="xyxy")[0]
        inst = sample.pred_instances
        kp = np.asarray(inst.keypoints[0], np.float32)
        score = np.clip(np.asarray(inst.keypoint_scores[0], np.float32), 0.0, 1.0)
        return kp, score, None


class _MMPoseSession:
    """Top-down models keep no state between frames, so a session only forwards to the shared model."""

    def __init__(self, estimator: MMPoseEstimator):
        self.estimator = estimator

    def estimate(self, rgb: np.ndarray):
        return self.estimator.estimate_crop(rgb)

    def close(self) -> None:
        pass


def _resolve_mmpose_config(config: str | None):
    """A config path, or one relative to the configs shipped inside the mmpose wheel."""
    from pathlib import Path

    if not config:
        raise ValueError("POSE=mmpose needs POSE_CONFIG= (an mmpose top-down config file)")
    path = Path(config)
    if path.is_file():
        return path
    import mmpose

    shipped = Path(mmpose.__file__).parent / ".mim" / "configs" / config
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(f"{config}: no such mmpose config (neither a file nor under mmpose's configs/)")


def build_estimator(name: str, config: str | None = None, checkpoint: str | None = None, device: str = "cpu",
                    allow_random_weights: bool = False):
    if name == "mediapipe":
        return MediaPipeEstimator()
    if name == "mmpose":
        return MMPoseEstimator(config, checkpoint, device=device, allow_random_weights=allow_random_weights)
    raise ValueError(f"unknown pose backend {name!r}; expected mediapipe or mmpose")
