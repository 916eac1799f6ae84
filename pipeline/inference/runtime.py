"""Which runtime runs a checkpoint: PyTorch, or onnxruntime on the checkpoint's ONNX twin.

Why a twin: on a small CPU, importing torch costs about 2 s and loading the model another 0.4 s (measured on
the 2-core machine: 3.1-3.7 s of CPU in all), as much as the pose stage of a short clip. onnxruntime opens the
same model, exported, in 0.3 s. So a checkpoint `X.pth` with an `X.onnx` beside it that
`tools/export_onnx.py` made from it runs on onnxruntime: the same logits (export verifies them within 1e-4)
at a tenth of the start-up. The twin counts only if the SHA-256 it records of its checkpoint is the one of
the `X.pth` on disk now: a retrained checkpoint with a stale twin runs on torch, with a note saying how to
re-export. (The shipped checkpoints come with their twins; `tests/inference/test_runtime.py` checks they
match.)

`ModelProcess` loads the chosen runtime in a child process while the pose stage runs.

Backends: `auto` (the default: the twin where there is a matching one and the device is the CPU, else torch;
an `.onnx` file itself runs on onnxruntime), `torch`, `onnx` (an `.onnx` file, or the twin of a `.pth`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from extract.fileio import file_sha256, one_line, printable
from pipeline.inference import onnx_predictor
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
    return onnx_predictor.load_onnx_predictor(path)  # looked up at call time (tests stand in a fake loader)


def _mismatch(twin, checkpoint: Path) -> str | None:
    """Why an opened ONNX twin cannot stand in for `checkpoint` (None: it can)."""
    if twin.source_sha256 is None:
        return "it does not record which checkpoint it was exported from"
    if twin.source_sha256 != file_sha256(checkpoint):
        return f"it was exported from another version of {printable(checkpoint.name)}"
    return None


class ModelProcess:
    """The model, loaded in a child process started before the pose stage and used after it.

    Importing torch and building the model take about 3 s of CPU here, as long as a short clip's whole
    budget. In a thread they would fight the pose stage for the GIL (measured: the landmarkers' start-up
    went from 1.7 s to 5 s); a child process overlaps them on the other core for real. With a checkpoint's
    ONNX twin (`pipeline.inference.runtime`, `backend` 'auto' or 'onnx') the child loads onnxruntime instead,
    about 0.8 s of CPU, which fits in the landmarkers' start-up while the other core is idle. The child
    answers on a pipe: ('ready', info) or ('error', one line) after loading, then ('probs', array) per batch;
    `info` also says what runs (`runtime`, `model_file`) and why a twin was passed over (`note`).

    The child runs at a lower CPU priority (nice +NICE): its model is needed only after the pose stage, so
    where both want a core the landmarkers' start-up goes first, and the model loads in what they leave.
    """

    NICE = 10

    def __init__(self, checkpoint: str | Path, device: str = "cpu", backend: str = "torch"):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # a clean interpreter: the parent may already run threads
        self.checkpoint = Path(checkpoint)
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_model, args=(child, str(checkpoint), device, backend), daemon=True,
                                 name="pggcn-model")
        self._proc.start()
        child.close()
        self.info: dict | None = None

    def _receive(self, expect: str):
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            raise InferenceError(f"{self.checkpoint}: the model process ended unexpectedly "
                                 f"(exit code {self._proc.exitcode})") from None
        if kind == "error":
            raise InferenceError(payload)
        if kind != expect:
            raise RuntimeError(f"model process sent {kind!r}, expected {expect!r}")
        return payload

    def check(self) -> None:
        """Raise now if loading failed (non-blocking), so a bad checkpoint stops the pose stage early."""
        if self.info is None and self._conn.poll():
            self.info = self._receive("ready")

    def wait(self) -> "ModelProcess":
        if self.info is None:
            self.info = self._receive("ready")
        return self

    def __getattr__(self, name: str):  # class_names, layout, num_person, clip_len, num_classes, resample_fps, window
        info = self.__dict__.get("info")
        if info is not None and name in info:
            return info[name]
        raise AttributeError(name)

    def predict(self, records: list[dict]) -> np.ndarray:
        self.wait()
        self._conn.send(records)
        return self._receive("probs")

    def close(self) -> None:
        """Tell the child to exit; do not wait for it (it skips torch's slow interpreter teardown)."""
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._conn.close()


def _serve_model(conn, checkpoint: str, device: str, backend: str = "torch") -> None:
    import os

    try:
        try:
            os.nice(ModelProcess.NICE)
        except (AttributeError, OSError):  # not on this platform, or not allowed: run at normal priority
            pass
        try:
            pred, choice = open_model(checkpoint, backend, device)
        except InferenceError as e:
            conn.send(("error", str(e)))
            return
        except Exception as e:  # a bug or an unforeseen file problem: still one line for the user
            conn.send(("error", one_line(e, Path(checkpoint))))
            return
        conn.send(("ready", dict(class_names=pred.class_names, layout=pred.layout, num_person=pred.num_person,
                                 clip_len=pred.clip_len, num_classes=pred.num_classes,
                                 resample_fps=pred.resample_fps, window=pred.window, runtime=choice.runtime,
                                 model_file=str(choice.path), note=choice.note)))
        while True:
            try:
                records = conn.recv()
            except EOFError:
                break
            if records is None:
                break
            try:
                conn.send(("probs", pred.predict(records)))
            except Exception as e:
                conn.send(("error", f"{checkpoint}: the model failed on this video's input ({one_line(e)})"))
    finally:
        conn.close()
        os._exit(0)  # nothing left to clean up; torch's teardown would cost about a second
