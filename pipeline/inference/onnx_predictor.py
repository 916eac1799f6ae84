"""An exported ONNX file (`pipeline.inference.onnx_export`) as a predictor, with onnxruntime and without PyTorch.

Deployment is the point: this module, the numpy transforms it rebuilds the test pipeline from and
onnxruntime are all it needs (no torch, no onnx package). `OnnxPredictor` is a
`pipeline.inference.predictor.PredictorBase`, like the torch `Predictor`: the same fields video inference reads and
the same `predict` (pipeline, batches, the test clips' softmax averaged); only `class_probs` differs.
Every problem with the file (not ONNX, not ours, missing or malformed metadata, inputs that do not match)
is an `InferenceError`: one line naming the file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.layouts import get_layout

from pipeline.data.classes import check_class_names
from extract.fileio import one_line
from pipeline.inference.predictor import InferenceError, PredictorBase

# The file format, read here and written by `pipeline.inference.onnx_export`: metadata_props keys (with META_PREFIX),
# each value JSON. All of META_KEYS are required; OPTIONAL_KEYS may be absent (files exported before them); the file
# also names its source checkpoint (`pggcn.checkpoint`, for people only); `checkpoint_sha256`, that checkpoint's
# content digest, is what lets inference run a checkpoint's ONNX twin in its place (`pipeline.inference.runtime`).
FORMAT_VERSION = 1
OUTPUT_NAME = "logits"
META_KEYS = ("format", "class_names", "layout", "num_person", "clip_len", "resample_fps", "test_pipeline",
             "input_names", "output_name")
OPTIONAL_KEYS = ("video_window", "checkpoint_sha256")
META_PREFIX = "pggcn."


@dataclass
class OnnxPredictor(PredictorBase):
    """An onnxruntime session with what inference needs from the file's metadata."""

    runtime = "onnxruntime"  # what runs it (video results name it)

    session: Any = None  # onnxruntime.InferenceSession
    path: Path | None = None
    input_names: list[str] = field(default_factory=lambda: ["skeleton", "pose"])
    output_name: str = "logits"
    source_sha256: str | None = None  # the SHA-256 of the checkpoint it was exported from (None: older export)

    @property
    def uses_pose(self) -> bool:
        return "pose" in self.input_names

    def logits(self, skeleton: np.ndarray, pose: np.ndarray | None) -> np.ndarray:
        """(B, 3, T, V, M) [+ pose] float32 -> logits (B, num_classes)."""
        feeds = {"skeleton": np.ascontiguousarray(skeleton, dtype=np.float32)}
        if self.uses_pose:
            if pose is None:
                raise InferenceError(f"{self.path}: this model takes a pose input, and the pipeline gave none")
            feeds["pose"] = np.ascontiguousarray(pose, dtype=np.float32)
        try:
            return self.session.run([self.output_name], feeds)[0]
        except Exception as e:  # onnxruntime's errors (wrong shape, ...) are not one class
            raise InferenceError(f"{self.path}: the model failed on this input ({one_line(e)})") from None

    def class_probs(self, skeleton: np.ndarray, pose: np.ndarray | None) -> np.ndarray:
        return _softmax(self.logits(skeleton, pose).astype(np.float32))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def load_onnx_predictor(path: str | Path) -> OnnxPredictor:
    """Open an exported PG-GCN ONNX file on the CPU; every problem is one InferenceError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InferenceError(f"{path}: ONNX model not found; export one with `python tools/export_onnx.py "
                             f"CHECKPOINT.pth --out {path}`" if not path.exists() else f"{path}: not a file")
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: the user sees our one-line messages, not the runtime's log
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, ...)
        raise InferenceError(f"{path}: not a readable ONNX model ({one_line(e)})") from None
    try:
        meta = _read_metadata(session.get_modelmeta().custom_metadata_map)
        _check_io(session, meta)
        from pipeline.data.transforms import build_pipeline, check_test_pipeline  # the project's scoped registry only

        pipeline = build_pipeline(meta["test_pipeline"])  # each step's numbers are bounded when it is built
        check_test_pipeline(meta["test_pipeline"])  # not empty, and it makes the `skeleton` input
    except ValueError as e:
        raise InferenceError(one_line(e, path)) from None
    return OnnxPredictor(session=session, class_names=meta["class_names"], layout=meta["layout"],
                         pipeline=pipeline, num_person=meta["num_person"], clip_len=meta["clip_len"],
                         resample_fps=meta["resample_fps"], window=meta["video_window"], path=path,
                         input_names=meta["input_names"], output_name=meta["output_name"],
                         source_sha256=meta["checkpoint_sha256"])


def _read_metadata(props: dict[str, str]) -> dict[str, Any]:
    """The `pggcn.*` metadata_props as checked Python values (ValueError with the reason otherwise)."""
    if not any(k.startswith(META_PREFIX) for k in props):
        raise ValueError("not a PG-GCN ONNX export (no pggcn.* metadata; export one with tools/export_onnx.py)")
    meta = {}
    for key in META_KEYS:
        if META_PREFIX + key not in props:
            raise ValueError(f"its metadata lacks {META_PREFIX}{key}")
        try:
            meta[key] = json.loads(props[META_PREFIX + key])
        except json.JSONDecodeError:
            raise ValueError(f"its metadata {META_PREFIX}{key} is not JSON") from None
    for key in OPTIONAL_KEYS:
        try:
            meta[key] = json.loads(props[META_PREFIX + key]) if META_PREFIX + key in props else None
        except json.JSONDecodeError:
            raise ValueError(f"its metadata {META_PREFIX}{key} is not JSON") from None
    w = meta["video_window"]
    if w is not None and (isinstance(w, bool) or not isinstance(w, int) or not 0 < w <= 100_000):
        raise ValueError(f"its metadata video_window must be a positive integer or null, got {w!r}")
    digest = meta["checkpoint_sha256"]
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64
                                   and all(c in "0123456789abcdef" for c in digest)):
        raise ValueError("its metadata checkpoint_sha256 must be 64 lowercase hex digits or null")
    if meta["format"] != FORMAT_VERSION:
        raise ValueError(f"export format {meta['format']!r}; this version reads format {FORMAT_VERSION}")
    if not isinstance(meta["class_names"], list):
        raise ValueError("its metadata class_names must be a non-empty list of strings")
    meta["class_names"] = check_class_names(meta["class_names"], f"its metadata {META_PREFIX}class_names")
    if not isinstance(meta["layout"], str):
        raise ValueError("its metadata layout must be a layout name")
    meta["num_joints"] = get_layout(meta["layout"]).num_joints  # ValueError for an unknown layout
    n = meta["num_person"]
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= 100_000:
        raise ValueError(f"its metadata num_person must be a positive integer, got {n!r}")
    c = meta["clip_len"]
    if c is not None and (isinstance(c, bool) or not isinstance(c, int) or not 0 < c <= 100_000):
        raise ValueError(f"its metadata clip_len must be a positive integer or null, got {c!r}")
    fps = meta["resample_fps"]
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0):
        raise ValueError(f"its metadata resample_fps must be a positive number or null, got {fps!r}")
    meta["resample_fps"] = None if fps is None else float(fps)
    if not isinstance(meta["test_pipeline"], list) or not all(isinstance(t, dict) for t in meta["test_pipeline"]):
        raise ValueError("its metadata test_pipeline must be a list of transform configs")
    if meta["input_names"] not in (["skeleton"], ["skeleton", "pose"]):
        raise ValueError(f"its metadata input_names must be ['skeleton'] or ['skeleton', 'pose'], "
                         f"got {meta['input_names']!r}")
    if not isinstance(meta["output_name"], str):
        raise ValueError("its metadata output_name must be a string")
    return meta


def _check_io(session, meta: dict) -> None:
    """The graph's inputs and output must be the ones the metadata names, with the shapes we feed."""
    inputs = {i.name: i for i in session.get_inputs()}
    if sorted(inputs) != sorted(meta["input_names"]):
        raise ValueError(f"the graph's inputs {sorted(inputs)} are not the metadata's {meta['input_names']}")
    for name, inp in inputs.items():
        if inp.type != "tensor(float)" or len(inp.shape) != 5:
            raise ValueError(f"input {name} is {inp.type} {inp.shape}, expected a 5-D float tensor "
                             f"(batch, C, T, V, M)")
        for axis, what, want in ((2, "frames", meta["clip_len"]), (3, "joints", meta["num_joints"]),
                                 (4, "persons", meta["num_person"])):
            if want is not None and isinstance(inp.shape[axis], int) and inp.shape[axis] != want:
                raise ValueError(f"input {name} takes {inp.shape[axis]} {what}, its metadata says {want}")
    outputs = session.get_outputs()
    if [o.name for o in outputs] != [meta["output_name"]]:
        raise ValueError(f"the graph's outputs {[o.name for o in outputs]} are not [{meta['output_name']!r}]")
    k = outputs[0].shape[-1] if outputs[0].shape else None
    if isinstance(k, int) and k != len(meta["class_names"]):
        raise ValueError(f"the graph gives {k} classes, the metadata names {len(meta['class_names'])}")
