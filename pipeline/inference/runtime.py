"""Which runtime runs a checkpoint: PyTorch, or onnxruntime on the checkpoint's ONNX twin.

Why a twin: on a small CPU, importing torch costs about 2 s and loading the model another 0.4 s (measured on
the 2-core machine: 3.1-3.7 s of CPU in all), as much as the pose stage of a short clip. onnxruntime opens the
same model, exported, in 0.3 s. So a checkpoint `X.pth` with an `X.onnx` beside it that
`tools/export_onnx.py` made from it runs on onnxruntime: the same logits (export verifies them within 1e-4)
at a tenth of the start-up. The twin counts only if the SHA-256 it records of its checkpoint is the one of
the `X.pth` on disk now: a retrained checkpoint with a stale twin runs on torch, with a note saying how to
re-export. (The shipped checkpoints come with their twins; `tests/inference/test_runtime.py` checks they
match.)

Backends: `auto` (the default: the twin where there is a matching one and the device is the CPU, else torch;
an `.onnx` file itself runs on onnxruntime), `torch`, `onnx` (an `.onnx` file, or the twin of a `.pth`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from extract.fileio import file_sha256, printable
from pipeline.inference.predictor import InferenceError, PredictorBase, load_predictor

BACKENDS = ("auto", "torch", "onnx")
RUNTIMES = {"torch": "torch", "onnx": "onnxruntime"}


@dataclass
class ModelChoice:
    """What will run: `backend` ('torch' or 'onnx') on `path`, and `note`, a line for the user when `auto`
    passed over a twin (None otherwise)."""

    backend: str
    path: Path
    note: str | None = None

    @property
    def runtime(self) -> str:
        return RUNTIMES[self.backend]


def onnx_twin(checkpoint: str | Path) -> Path:
    """Where a checkpoint's ONNX twin lives: beside it, the same name with `.onnx`."""
    return Path(checkpoint).with_suffix(".onnx")


def open_model(checkpoint: str | Path, backend: str = "auto", device: str = "cpu") -> tuple[PredictorBase, ModelChoice]:
    """Load a checkpoint on the runtime `backend` asks for -> (predictor, what runs). Every failure is one
    InferenceError naming the file; `auto` never fails over a twin, it notes why it passed it over."""
    path = Path(checkpoint)
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: one of {', '.join(BACKENDS)}")
    if path.suffix == ".onnx":
        if backend == "torch":
            raise InferenceError(f"{path}: an ONNX file runs on onnxruntime (--backend onnx or auto), not torch")
        return _onnx(path), ModelChoice("onnx", path)
    if backend == "torch" or (backend == "auto" and not device.startswith("cpu")):
        return load_predictor(path, device), ModelChoice("torch", path)
    twin = onnx_twin(path)
    if backend == "auto" and not (twin.is_file() and path.is_file()):
        return load_predictor(path, device), ModelChoice("torch", path)
    if backend == "onnx" and not path.is_file():  # nothing to check the twin against: it is used as it is
        return _onnx(twin), ModelChoice("onnx", twin)
    try:
        predictor = _onnx(twin)
        why = _mismatch(predictor, path)
    except InferenceError as e:
        if backend == "onnx":
            raise
        why = str(e).removeprefix(f"{twin}: ")
    else:
        if why is None:
            return predictor, ModelChoice("onnx", twin)
    redo = f"python tools/export_onnx.py {printable(path)}"
    if backend == "onnx":
        raise InferenceError(f"{twin}: {why}; re-export it ({redo}) or use --backend torch")
    note = f"{printable(twin)}: not used ({why}); running {printable(path)} on torch (re-export: {redo})"
    return load_predictor(path, device), ModelChoice("torch", path, note)


def _onnx(path: Path) -> PredictorBase:
    from pipeline.inference.onnx_predictor import load_onnx_predictor

    return load_onnx_predictor(path)


def _mismatch(twin, checkpoint: Path) -> str | None:
    """Why an opened ONNX twin cannot stand in for `checkpoint` (None: it can)."""
    if twin.source_sha256 is None:
        return "it does not record which checkpoint it was exported from"
    if twin.source_sha256 != file_sha256(checkpoint):
        return f"it was exported from another version of {printable(checkpoint.name)}"
    return None
