"""A checkpoint as a self-contained ONNX file, for inference without PyTorch (`pipeline.inference.onnx_predictor`).

The graph is `model(skeleton, pose) -> logits` with a dynamic batch axis; clip length, joints and persons
are fixed by the checkpoint's test pipeline, which always produces them. The pose stream's heatmap renderer
(models.heatmaps.render_heatmaps, called in PoseStream.forward) is inside the graph: the `pose` input is
keypoints (x, y in the unit person box, score) as the numpy pipeline packs them, and the graph draws the
Gaussian maps itself, exactly as the torch model does. A model without a pose stream (pose_input=None)
has the one input `skeleton`.

Everything inference needs besides the weights travels in the file's metadata_props, each a JSON value
under a `pggcn.` key (class names, layout, persons, clip length, frame rate, input names and the test
pipeline as config dicts, and the SHA-256 of the checkpoint it came from), so the ONNX file alone reproduces the checkpoint's preprocessing: the predictor
rebuilds that pipeline with `pipeline.data.transforms.build_pipeline`, the same registry-scoped builder the
checkpoint loader uses (a name in the file can only pick one of this project's transforms).

Exporter: torch's TorchScript-based one (`dynamo=False`, needs the `onnx` package). It traces the model
once; the model has no data-dependent Python branches (its only Python-level checks are on the joint count
and the clip size, which are fixed), and every export is checked against torch on a batch of another
size before the file replaces its target (`max_logit_diff`).
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from extract.fileio import (atomic_path, check_output_file, check_regular_output, file_sha256, one_line,
                            refuse_overwriting_inputs, require_file)
from models.layouts import get_layout

from pipeline.inference.onnx_predictor import FORMAT_VERSION, META_PREFIX, OUTPUT_NAME, load_onnx_predictor
from pipeline.inference.predictor import _clip_len, _num_person, _resample_fps, stack_samples, video_window

DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 13, 20  # what torch's TorchScript exporter writes and onnxruntime 1.32 runs
TOLERANCE = 1e-4  # max |logit difference| between torch and onnxruntime that `tools/export_onnx.py` accepts


def export_onnx(checkpoint_path: str | Path, out_path: str | Path, opset: int = DEFAULT_OPSET,
                verify: bool = True, tolerance: float = TOLERANCE) -> dict:
    """Export a checkpoint to `out_path`; returns what was written (and the verified logit difference).

    The file is written to a temp name beside `out_path` and, with `verify`, opened as the predictor opens
    it and compared with torch (`max_logit_diff`) before it replaces `out_path`: a file that disagrees by
    more than `tolerance` never appears. Every problem (the checkpoint, the output path, a mismatch) is a
    ValueError / FileNotFoundError naming the file, and leaves `out_path` as it was."""
    from pipeline.inference.checkpoint_model import load_model

    checkpoint_path, out_path = Path(checkpoint_path), Path(out_path)
    refuse_overwriting_inputs([out_path], [checkpoint_path])
    require_file(checkpoint_path, "checkpoint")
    check_output_file(out_path)
    check_regular_output(out_path)
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset {opset}: this exporter writes opsets {MIN_OPSET} to {MAX_OPSET}")
    loaded = load_model(checkpoint_path, device="cpu")
    uses_pose = bool(getattr(loaded.model, "pose_input", None))
    skel, pose = example_inputs(loaded.pipeline, loaded.pipeline_cfg, loaded.layout, batch=2)
    if uses_pose and pose is None:
        raise ValueError(f"{checkpoint_path}: its model has a pose stream, but its test pipeline packs no pose")
    names = ["skeleton", "pose"] if uses_pose else ["skeleton"]
    graph = trace_to_onnx(loaded.model, skel, pose if uses_pose else None, opset)
    meta = _metadata(loaded, names)
    data = _with_metadata(graph, meta)
    diff = None
    try:
        with atomic_path(out_path, suffix=".onnx.tmp") as tmp:
            tmp.write_bytes(data)
            if verify:
                try:
                    diff = max_logit_diff(loaded, tmp)
                except ValueError as e:  # its message would name the temp file
                    raise ValueError(f"{out_path}: the exported file does not load "
                                     f"({one_line(e).replace(str(tmp), 'the export')})") from None
                if not diff <= tolerance:
                    raise ValueError(f"{out_path}: onnxruntime's logits differ from torch's by {diff:.2e} "
                                     f"(> {tolerance:g}); not written")
    except OSError as e:  # its filename would be the temp file's: name the user's
        raise ValueError(f"{out_path}: cannot write ({e.strerror or e})") from None
    return dict(path=out_path, checkpoint=checkpoint_path, opset=opset, exporter="torchscript (dynamo=False)",
                inputs={n: ["batch", *a.shape[1:]] for n, a in zip(names, (skel, pose))},
                num_classes=len(loaded.class_names), bytes=len(data), metadata=meta, max_logit_diff=diff)


def trace_to_onnx(model, skeleton: np.ndarray, pose: np.ndarray | None, opset: int = DEFAULT_OPSET) -> bytes:
    """`model(skeleton[, pose]) -> logits` as a serialized ONNX graph with a dynamic batch axis (no metadata;
    `export_onnx` adds it). The model must be in eval mode: the graph freezes BatchNorm and dropout."""
    import torch

    names = ["skeleton", "pose"] if pose is not None else ["skeleton"]
    args = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (skeleton, pose) if a is not None)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # TracerWarnings: the joint-count check and PG-AM's sqrt(C*T) read sizes that are fixed in the
        # graph anyway; the DeprecationWarning is the legacy exporter's. export_onnx verifies the result.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, args, buf, input_names=names, output_names=[OUTPUT_NAME],
                          dynamic_axes={n: {0: "batch"} for n in [*names, OUTPUT_NAME]},
                          opset_version=opset, do_constant_folding=True, dynamo=False)
    return buf.getvalue()


def _metadata(loaded, input_names: list[str]) -> dict[str, Any]:
    from pipeline.checkpoint import plain

    cfg = loaded.pipeline_cfg
    return dict(format=FORMAT_VERSION, class_names=list(loaded.class_names), layout=loaded.layout,
                num_person=_num_person(cfg), clip_len=_clip_len(cfg), resample_fps=_resample_fps(cfg),
                video_window=video_window(loaded.meta.get("config") or {}),
                test_pipeline=plain(cfg), input_names=list(input_names), output_name=OUTPUT_NAME,
                checkpoint=Path(loaded.path).name, checkpoint_sha256=file_sha256(loaded.path))


def _with_metadata(model_bytes: bytes, meta: dict[str, Any]) -> bytes:
    """The serialized model with `meta` as metadata_props (JSON values), checked by onnx's checker."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    del model.metadata_props[:]
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = META_PREFIX + key, json.dumps(value)
    model.doc_string = f"PG-GCN exported from {meta['checkpoint']}; inputs {', '.join(meta['input_names'])}"
    onnx.checker.check_model(model)
    return model.SerializeToString()


def example_record(layout: str, pipeline_cfg: list, frames: int, num_person: int, seed: int = 0) -> dict:
    """A plausible moving stick figure as an annotation record in `layout`, for tracing and verification.

    Joints hang from their parents at 10-30 cm, sway in time, and carry both 3D (Kinect axes, about 3 m
    from the camera) and 2D estimator fields, so any of the project's test pipelines accepts it; a 2D
    pipeline (From2DKeypoints) gets 2D `keypoint` pixels instead."""
    lay = get_layout(layout)
    rng = np.random.default_rng(seed)
    v = lay.num_joints
    base = np.zeros((num_person, v, 3), np.float32)
    order = sorted(range(v), key=lambda j: _depth(lay.parents, j))
    for j in order:
        if lay.parents[j] != j:
            bone = rng.normal(0, 1, (num_person, 3)) * [1.0, 1.0, 0.3]
            bone *= rng.uniform(0.1, 0.3, (num_person, 1)) / np.linalg.norm(bone, axis=1, keepdims=True)
            base[:, j] = base[:, lay.parents[j]] + bone
    base += np.array([0.0, 0.0, 3.0], np.float32) + rng.normal(0, 0.4, (num_person, 1, 3)) * [1, 0.1, 0.2]
    t = np.arange(frames, dtype=np.float32)[None, :, None, None]
    phase = rng.uniform(0, 2 * np.pi, (num_person, 1, v, 3))
    joints = (base[:, None] + 0.05 * np.sin(t / rng.uniform(4, 12) + phase)).astype(np.float32)  # (M, T, V, 3)
    pixels = (np.array([320, 240], np.float32) - 600 * joints[..., :2] / joints[..., 2:]).astype(np.float32)
    scores = rng.uniform(0.6, 1.0, joints.shape[:-1]).astype(np.float32)
    record = dict(frame_dir=f"example_{seed}", total_frames=frames, img_shape=(480, 640),
                  original_shape=(480, 640), layout=lay.name, fps=30.0, keypoint=joints, pose_world=joints.copy(),
                  pose_keypoint=pixels, pose_score=scores, pose_mirrored=False)
    if any(isinstance(step, dict) and step.get("type") == "From2DKeypoints" for step in pipeline_cfg):
        record.update(keypoint=pixels.copy(), keypoint_score=scores.copy())
    return record


def _depth(parents: tuple[int, ...], j: int) -> int:
    d = 0
    while parents[j] != j:
        j, d = parents[j], d + 1
    return d


def example_inputs(pipeline, pipeline_cfg: list, layout: str, batch: int = 2,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """`batch` different example records through the checkpoint's own test pipeline, stacked as the
    predictors stack them: skeleton, pose (batch * clips, C, T, V, M) float32."""
    clip_len = _clip_len(pipeline_cfg) or 64
    samples = [pipeline(example_record(layout, pipeline_cfg, frames=2 * clip_len + 7,
                                       num_person=_num_person(pipeline_cfg), seed=seed + i)) for i in range(batch)]
    skel, pose, _ = stack_samples(samples)
    return skel, pose


def max_logit_diff(loaded, onnx_path: str | Path, batch: int = 3) -> float:
    """Max |logit difference| between a loaded checkpoint's torch model and an ONNX file (opened as the
    predictor opens it) on `batch` different inputs of the checkpoint's shape (batch > 2: the traced batch
    was 2, so this also exercises the dynamic batch axis)."""
    import torch

    pred = load_onnx_predictor(onnx_path)
    skel, pose = example_inputs(loaded.pipeline, loaded.pipeline_cfg, loaded.layout, batch=batch, seed=100)
    with torch.inference_mode():
        ref = loaded.model(torch.from_numpy(skel), torch.from_numpy(pose) if pred.uses_pose else None).numpy()
    return float(np.abs(pred.logits(skel, pose) - ref).max())
