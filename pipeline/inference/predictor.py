"""A checkpoint as a predictor for video windows.

`load_predictor` turns a checkpoint into a model and its own test pipeline (through
`pipeline.inference.checkpoint_model.load_model`, the one loader that evaluation and inference share);
`pipeline.inference.runtime` picks the runtime (torch, or the checkpoint's ONNX twin) and loads it in a child
process (`ModelProcess`) so that loading overlaps the pose stage. Every problem
with the checkpoint is an `InferenceError`: one line naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from extract.fileio import one_line

from pipeline.config import ROOT

# The project's default model, in ONE place (trained by `make train CONFIG=configs/pggcn_nwucla_default.py`).
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "pggcn_nwucla_default.pth"
DEFAULT_CONFIG = "configs/pggcn_nwucla_default.py"


class InferenceError(ValueError):
    """A problem with the user's input (video or checkpoint), told in one line."""


def how_to_get_checkpoint(path: str | Path) -> str:
    return (f"{path}: no usable checkpoint; train one with `make train CONFIG={DEFAULT_CONFIG}` and copy the "
            f"run's best checkpoint to {DEFAULT_CHECKPOINT.relative_to(ROOT)}, or pass --checkpoint PATH")


@dataclass
class PredictorBase:
    """What video inference needs of any model runtime: the checkpoint's classes, layout, test pipeline and
    clip settings, and `predict`, which runs the pipeline, batches and averages the test clips' softmax.
    A runtime supplies `class_probs` (torch: `Predictor`; onnxruntime: `onnx_predictor.OnnxPredictor`)."""

    class_names: list[str]
    layout: str
    pipeline: Callable[[dict], dict]
    num_person: int
    clip_len: int | None
    resample_fps: float | None
    window: int | None = None  # frames of video per labelled window, when the config says (`video_window`)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_probs(self, skeleton: np.ndarray, pose: np.ndarray | None) -> np.ndarray:
        """(B, C, T, V, M) float32 inputs -> softmax probabilities (B, num_classes)."""
        raise NotImplementedError

    def predict(self, records: list[dict], batch_size: int = 16) -> np.ndarray:
        """Records -> class probabilities (N, num_classes), averaged over the pipeline's test clips."""
        samples = [self.pipeline(dict(r)) for r in records]
        out = []
        for i in range(0, len(samples), batch_size):
            chunk = samples[i:i + batch_size]
            skel, pose, clips = stack_samples(chunk)
            prob = self.class_probs(skel, pose)  # (B * clips, num_classes)
            out.append(prob.reshape(len(chunk), clips, -1).mean(1))
        return np.concatenate(out) if out else np.zeros((0, self.num_classes), np.float32)


@dataclass
class Predictor(PredictorBase):
    """A checkpoint's model (PyTorch) with what inference needs from its metadata."""

    runtime = "torch"  # what runs it (video results name it)

    model: Any = None
    device: str = "cpu"
    checkpoint: Path | None = None
    uses_pose: bool = True

    def class_probs(self, skeleton: np.ndarray, pose: np.ndarray | None) -> np.ndarray:
        import torch

        with torch.inference_mode():
            skel = torch.from_numpy(skeleton).to(self.device)
            pose_t = torch.from_numpy(pose).to(self.device) if (pose is not None and self.uses_pose) else None
            logits = self.model(skel, pose_t)  # (B, num_classes)
            return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def stack_samples(samples: list[dict]) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Pipeline outputs -> skeleton, pose (B * clips, C, T, V, M) float32 arrays and the clip count (numpy:
    the ONNX predictor, which runs without torch, stacks its inputs with this too)."""

    def as5(x):
        x = np.asarray(x, dtype=np.float32)
        return x[None] if x.ndim == 4 else x  # (clips, C, T, V, M)

    skel = [as5(s["skeleton"]) for s in samples]
    clips = skel[0].shape[0]
    pose = None
    if all(s.get("pose") is not None for s in samples):
        pose = np.concatenate([as5(s["pose"]) for s in samples])
    return np.concatenate(skel), pose, clips


def load_predictor(checkpoint: str | Path | None = None, device: str = "cpu") -> Predictor:
    """Load a checkpoint (plain state dict + JSON meta) and its model; every failure is one InferenceError."""
    path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    if not path.is_file():
        raise InferenceError(how_to_get_checkpoint(path))
    import torch  # here, not at the top: the CLI's parent process must not pay for torch (see runtime.ModelProcess)

    from pipeline.inference.checkpoint_model import load_model  # imports torch and the models

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InferenceError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    try:
        loaded = load_model(path, device=device)
        if not loaded.meta.get("class_names"):
            raise ValueError("not a PG-GCN checkpoint for inference (its metadata lacks class_names)")
        return Predictor(model=loaded.model, class_names=loaded.class_names, layout=loaded.layout,
                         pipeline=loaded.pipeline, num_person=_num_person(loaded.pipeline_cfg),
                         clip_len=_clip_len(loaded.pipeline_cfg), resample_fps=_resample_fps(loaded.pipeline_cfg),
                         window=video_window(loaded.meta.get("config") or {}), device=device, checkpoint=path,
                         uses_pose=bool(getattr(loaded.model, "pose_input", "heatmap")))
    except (ValueError, TypeError) as e:  # the loader's one-line reasons (not a checkpoint, unknown type, ...)
        raise InferenceError(one_line(e, path)) from None


def _clip_len(pipeline_cfg: list) -> int | None:
    for t in pipeline_cfg:
        if isinstance(t, dict) and "clip_len" in t:
            return _positive(t["clip_len"], "clip_len")
    return None


def _resample_fps(pipeline_cfg: list) -> float | None:
    """The frame rate a time-sampled pipeline (ResampleFps) brings every clip to, else None."""
    for t in pipeline_cfg:
        if isinstance(t, dict) and t.get("type") == "ResampleFps":
            return float(t.get("fps", 15.0))
    return None


def video_window(cfg: dict) -> int | None:
    """The config's `video_window`: how many frames of a video one labelled window holds, where that should
    not be the test clip's length (a model trained on 32-frame clips of NW-UCLA samples that last about 52
    video frames). None: the clip length decides (`windows.window_and_stride`)."""
    value = cfg.get("video_window") if isinstance(cfg, dict) else None
    if value is None:
        return None
    return _positive(value, "video_window", "config's")


def _num_person(pipeline_cfg: list) -> int:
    for t in pipeline_cfg:
        if isinstance(t, dict) and "num_person" in t:
            return _positive(t["num_person"], "num_person")
    return 2


def _positive(value, name: str, where: str = "test pipeline's") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 100_000:
        raise ValueError(f"its {where} {name} must be a positive integer, got {value!r}")
    return value
