"""Action labels for an ordinary video: pose + tracking -> training-style records -> PG-GCN, in windows.

Why it is built this way:
- The model must see what it saw in training. So each window becomes a record exactly like an
  annotation record (keypoint := the estimator's 3D joints mapped to the checkpoint's layout in Kinect
  axes, pose_keypoint / pose_score in full-frame pixels, pose_mirrored=False for an ordinary camera) and
  goes through the checkpoint config's own test pipeline; nothing here re-implements a transform.
- Long clips are cut into overlapping windows of a few seconds (actions in the training sets are short);
  each window is labelled, and the whole clip gets the mean of the window probabilities.
- Per window, as many persons as the model was trained with (the test pipeline's `num_person`: 1 for
  NW-UCLA, 2 for NTU): the tracks present in most of the window's frames. Frames where a person is
  absent are zeros, as missing frames are in training.
- Every way the input can be wrong ends in an `InferenceError` with one line naming the file and the
  problem; the CLI prints it and exits 2.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The project's default model, in ONE place (trained by `make train CONFIG=configs/pggcn_nwucla_default.py`).
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "pggcn_nwucla_default.pth"
DEFAULT_CONFIG = "configs/pggcn_nwucla_default.py"
DEFAULT_WINDOW = 64  # frames; used when the checkpoint's config names no clip length
MAX_POSE_WIDTH = 960  # frames are decoded at most this wide for the landmarker (it runs at 224/256 px anyway)


class InferenceError(ValueError):
    """A problem with the user's input (video or checkpoint), told in one line."""


def how_to_get_checkpoint(path: str | Path) -> str:
    return (f"{path}: no usable checkpoint; train one with `make train CONFIG={DEFAULT_CONFIG}` and copy the "
            f"run's best checkpoint to {DEFAULT_CHECKPOINT.relative_to(ROOT)}, or pass --checkpoint PATH")


# ----------------------------------------------------------------------------------------------- model


@dataclass
class Predictor:
    """A checkpoint's model with what inference needs from its metadata."""

    model: Any
    class_names: list[str]
    layout: str
    pipeline: Callable[[dict], dict]
    num_person: int
    clip_len: int | None
    device: str
    checkpoint: Path
    uses_pose: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def predict(self, records: list[dict], batch_size: int = 16) -> np.ndarray:
        """Records -> class probabilities (N, num_classes), averaged over the pipeline's test clips."""
        import torch

        samples = [self.pipeline(dict(r)) for r in records]
        out = []
        with torch.inference_mode():
            for i in range(0, len(samples), batch_size):
                chunk = samples[i:i + batch_size]
                skel, pose, clips = _stack_inputs(chunk)
                skel = skel.to(self.device)
                pose = pose.to(self.device) if (pose is not None and self.uses_pose) else None
                logits = self.model(skel, pose)  # (B * clips, num_classes)
                prob = torch.softmax(logits.float(), dim=-1).reshape(len(chunk), clips, -1).mean(1)
                out.append(prob.cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.num_classes), np.float32)


def _stack_inputs(samples: list[dict]):
    """Pipeline outputs -> skeleton, pose (B * clips, 3, T, V, M) tensors and the clip count."""
    import torch

    def as5(x):
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        return x[None] if x.dim() == 4 else x  # (clips, C, T, V, M)

    skel = [as5(s["skeleton"]) for s in samples]
    clips = skel[0].shape[0]
    pose = None
    if all(s.get("pose") is not None for s in samples):
        pose = torch.cat([as5(s["pose"]) for s in samples])
    return torch.cat(skel), pose, clips


def load_predictor(checkpoint: str | Path | None = None, device: str = "cpu") -> Predictor:
    """Load a checkpoint (plain state dict + JSON meta) and its model; every failure is one InferenceError."""
    path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    if not path.is_file():
        raise InferenceError(how_to_get_checkpoint(path))
    import torch

    from pipeline.checkpoint import load_model

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InferenceError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    try:
        loaded = load_model(path, device=device)
        if not loaded.meta.get("class_names"):
            raise ValueError("not a PG-GCN checkpoint for inference (its metadata lacks class_names)")
        return Predictor(model=loaded.model, class_names=loaded.class_names, layout=loaded.layout,
                         pipeline=loaded.pipeline, num_person=_num_person(loaded.pipeline_cfg),
                         clip_len=_clip_len(loaded.pipeline_cfg), device=device, checkpoint=path,
                         uses_pose=bool(getattr(loaded.model, "pose_input", "heatmap")))
    except (ValueError, TypeError) as e:  # the loader's one-line reasons (not a checkpoint, unknown type, ...)
        raise InferenceError(_one_line(e, path)) from None


def _clip_len(pipeline_cfg: list) -> int | None:
    for t in pipeline_cfg:
        if isinstance(t, dict) and "clip_len" in t:
            return _positive(t["clip_len"], "clip_len")
    return None


def _num_person(pipeline_cfg: list) -> int:
    for t in pipeline_cfg:
        if isinstance(t, dict) and "num_person" in t:
            return _positive(t["num_person"], "num_person")
    return 2


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 100_000:
        raise ValueError(f"its test pipeline's {name} must be a positive integer, got {value!r}")
    return value


def _one_line(e: BaseException, path: Path | None = None) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    if path is not None and str(path) not in msg:
        msg = f"{path}: {msg}"
    return msg


class ModelProcess:
    """`load_predictor` in a child process, started before the pose stage and used after it.

    Importing torch and building the model take about 3 s of CPU here, as long as a short clip's whole
    budget. In a thread they would fight the pose stage for the GIL (measured: the landmarkers' start-up
    went from 1.7 s to 5 s); a child process overlaps them on the other core for real. The child answers
    on a pipe: ('ready', info) or ('error', one line) after loading, then ('probs', array) per batch.
    """

    def __init__(self, checkpoint: str | Path, device: str = "cpu"):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # a clean interpreter: the parent may already run threads
        self.checkpoint = Path(checkpoint)
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_model, args=(child, str(checkpoint), device), daemon=True,
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

    def __getattr__(self, name: str):  # class_names, layout, num_person, clip_len, num_classes
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


def _serve_model(conn, checkpoint: str, device: str) -> None:
    import os

    try:
        try:
            pred = load_predictor(checkpoint, device)
        except InferenceError as e:
            conn.send(("error", str(e)))
            return
        except Exception as e:  # a bug or an unforeseen file problem: still one line for the user
            conn.send(("error", _one_line(e, Path(checkpoint))))
            return
        conn.send(("ready", dict(class_names=pred.class_names, layout=pred.layout, num_person=pred.num_person,
                                 clip_len=pred.clip_len, num_classes=pred.num_classes)))
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
                conn.send(("error", f"{checkpoint}: the model failed on this video's input ({_one_line(e)})"))
    finally:
        conn.close()
        os._exit(0)  # nothing left to clean up; torch's teardown would cost about a second


# --------------------------------------------------------------------------------------------- windows


def plan_windows(frames: int, window: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) windows of `window` frames every `stride`, the last one flush with the clip's end."""
    if frames <= 0:
        return []
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive, got {window} and {stride}")
    if frames <= window:
        return [(0, frames)]
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return [(s, s + window) for s in starts]


def pick_persons(present: np.ndarray, start: int, end: int, max_persons: int) -> np.ndarray:
    """Track indices (K,) of the persons seen in most frames of [start, end), at most `max_persons`,
    in track order (order of first appearance, as body order in training follows appearance)."""
    counts = present[:, start:end].sum(axis=1)  # (K,)
    order = np.argsort(-counts, kind="stable")[:max_persons]
    order = order[counts[order] > 0]
    return np.sort(order)


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
    from extract.mapping import map_keypoints, world_to_kinect

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
                 size: tuple[int, int], layout: str) -> dict:
    """One window as an annotation record (docs/ARCHITECTURE.md) without a label."""
    sl = (persons, slice(start, end))
    world = mapped.keypoint[sl]  # (M, T, V, 3)
    return dict(
        frame_dir=name, total_frames=end - start, img_shape=tuple(size), original_shape=tuple(size), layout=layout,
        keypoint=world.copy(), pose_world=world.copy(), pose_keypoint=mapped.pose_keypoint[sl].copy(),
        pose_score=mapped.pose_score[sl].copy(), pose_source="mediapipe", pose_mirrored=False,
        pose_frames=end - start,
    )


# ------------------------------------------------------------------------------------------ whole run


@dataclass
class InferenceResult:
    video: str
    frames: int
    fps: float
    width: int
    height: int
    class_names: list[str]
    persons: list[dict]
    probs: np.ndarray | None  # (num_classes,) whole clip
    windows: list[dict]
    window_probs: np.ndarray  # (W, num_classes), rows of windows without persons are NaN
    timings: dict = field(default_factory=dict)
    frame_labels: list[str | None] = field(default_factory=list)

    def top(self, probs: np.ndarray, k: int) -> list[dict]:
        order = np.argsort(-probs, kind="stable")[:k]
        return [dict(label=self.class_names[i], class_id=int(i), score=round(float(probs[i]), 6)) for i in order]

    def to_json(self, topk: int = 5) -> dict:
        windows = []
        for w, p in zip(self.windows, self.window_probs):
            preds = self.top(p, topk) if np.isfinite(p).all() else []
            windows.append(dict(start=w["start"], end=w["end"], persons=w["persons"], predictions=preds))
        return dict(
            video=self.video, frames=self.frames, fps=round(float(self.fps), 3), width=self.width,
            height=self.height, persons=self.persons,
            predictions=self.top(self.probs, topk) if self.probs is not None else [],
            windows=windows, timings={k: round(float(v), 3) for k, v in self.timings.items()},
        )


def label_per_frame(frames: int, windows: list[tuple[int, int]], window_probs: np.ndarray,
                    class_names: list[str]) -> list[str | None]:
    """The label shown on each frame: that of the labelled window whose centre is nearest."""
    ok = np.flatnonzero(np.isfinite(window_probs).all(axis=1)) if len(window_probs) else np.zeros(0, int)
    if ok.size == 0:
        return [None] * frames
    centres = np.array([(windows[i][0] + windows[i][1] - 1) / 2 for i in ok])
    nearest = ok[np.abs(np.arange(frames)[:, None] - centres[None, :]).argmin(axis=1)]  # (T,)
    best = window_probs[ok].argmax(axis=1)
    text = {int(i): f"{class_names[b]} {window_probs[i, b]:.2f}" for i, b in zip(ok, best)}
    return [text[int(i)] for i in nearest]


def auto_pose_every(fps: float) -> int:
    """Landmarker on every 2nd frame of videos at 20 fps or more (the skipped frames are interpolated).

    Why: on a 2-core CPU the landmarker manages ~25-35 frames/s, short of real time once start-up is
    counted; actions change little in 1/15 s, and the test pipeline resamples each window to the
    model's clip length anyway. Slower videos keep every frame. `--pose-every 1` turns this off.
    """
    return 2 if fps >= 20 else 1


def infer_video(video: str | Path, predictor: Predictor | None = None, checkpoint: str | Path | None = None,
                device: str = "cpu", window: int | None = None, stride: int | None = None,
                overlay: str | Path | None = None, progress: bool = True, workers: int | None = None,
                pose_width: int = MAX_POSE_WIDTH, pose_every: int | None = None,
                started: float | None = None) -> InferenceResult:
    """The whole run on one video. `started` is when the command began (start-up counts in the timings).

    Without a ready `predictor` the checkpoint is loaded in a child process (`ModelProcess`) while the
    pose stage runs; a bad checkpoint still stops the run within a few frames. `pose_every` runs the
    landmarker on every n-th frame only (default: `auto_pose_every(fps)`), the rest are interpolated.
    """
    t0 = started if started is not None else time.perf_counter()
    video = Path(video)
    if not video.is_file():
        raise InferenceError(f"{video}: file not found" if not video.exists() else f"{video}: not a file")
    info = open_video(video)
    if info["frames"] == 0:
        raise InferenceError(f"{video}: the video has no frames")
    if predictor is not None:
        return _run(video, info, predictor, None, t0, window, stride, overlay, progress, workers, pose_width,
                    pose_every)
    path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    if not path.is_file():
        raise InferenceError(how_to_get_checkpoint(path))
    remote = ModelProcess(path, device)
    try:
        return _run(video, info, remote, remote, t0, window, stride, overlay, progress, workers, pose_width,
                    pose_every)
    finally:
        remote.close()


def _run(video: Path, info: dict, predictor, remote: ModelProcess | None, t0: float, window, stride, overlay,
         progress: bool, workers, pose_width: int, pose_every) -> InferenceResult:
    from extract.multiperson import track_poses

    timings: dict[str, float] = {}

    def started_pose() -> None:
        timings["startup_s"] = time.perf_counter() - t0

    bar = _bar(info["frames"], "pose", progress)

    def on_frame() -> None:
        bar.update()
        if remote is not None and bar.n % 16 == 0:
            remote.check()

    t_pose = time.perf_counter()
    every = int(pose_every or auto_pose_every(info["fps"]))
    try:
        poses = track_poses(read_frames(video, max_width=pose_width), info["fps"],
                            full_size=(info["height"], info["width"]), workers=workers, on_frame=on_frame,
                            on_start=started_pose, every=every)
    finally:
        bar.close()
    timings["pose_s"] = time.perf_counter() - t_pose
    timings["pose_every"] = every
    if poses.frames == 0:
        raise InferenceError(f"{video}: no frames could be decoded (corrupt or not a video)")
    if poses.frames < 0.9 * info["frames"] - 1:  # containers' counts are estimates, but not by this much
        raise InferenceError(f"{video}: truncated or corrupt: only {poses.frames} of the {info['frames']} frames "
                             f"its header announces could be decoded")
    timings["pose_fps"] = poses.frames / max(timings["pose_s"], 1e-9)
    if not poses.tracks:
        raise InferenceError(f"{video}: no person found in any of its {poses.frames} frames")
    if remote is not None:
        t_wait = time.perf_counter()
        remote.wait()
        timings["model_wait_s"] = time.perf_counter() - t_wait
    window = int(window or predictor.clip_len or DEFAULT_WINDOW)
    stride = int(stride or max(1, window // 2))

    t_model = time.perf_counter()
    mapped = map_tracks(poses, predictor.layout)
    spans = plan_windows(poses.frames, window, stride)
    picks = [pick_persons(mapped.present, s, e, predictor.num_person) for s, e in spans]
    records, rows = [], []
    for i, ((s, e), persons) in enumerate(zip(spans, picks)):
        if persons.size:
            records.append(build_record(mapped, persons, s, e, video.stem, (poses.height, poses.width),
                                        predictor.layout))
            rows.append(i)
    probs = predictor.predict(records)
    window_probs = np.full((len(spans), predictor.num_classes), np.nan, np.float32)
    window_probs[rows] = probs
    timings["model_s"] = time.perf_counter() - t_model

    ids = np.array(mapped.ids)
    result = InferenceResult(
        video=str(video), frames=poses.frames, fps=info["fps"], width=poses.width, height=poses.height,
        class_names=list(predictor.class_names),
        persons=[dict(id=int(t.id), frames_present=t.frames_present) for t in poses.tracks],
        probs=probs.mean(axis=0) if len(probs) else None,
        windows=[dict(start=s, end=e, persons=ids[p].tolist()) for (s, e), p in zip(spans, picks)],
        window_probs=window_probs, timings=timings,
    )
    result.frame_labels = label_per_frame(poses.frames, spans, window_probs, result.class_names)
    if overlay is not None:
        from extract.overlay import write_overlay

        t_ov = time.perf_counter()
        bar = _bar(poses.frames, "overlay", progress)
        try:
            write_overlay(read_frames(video, rgb=False), overlay, info["fps"], poses, result.frame_labels,
                          on_frame=bar.update)
        except (OSError, ValueError) as e:
            raise InferenceError(_one_line(e, Path(overlay))) from None
        finally:
            bar.close()
        timings["overlay_s"] = time.perf_counter() - t_ov
    timings["total_s"] = time.perf_counter() - t0
    timings["frames_per_s"] = poses.frames / max(timings["total_s"], 1e-9)
    return result


def summary_text(result: InferenceResult, topk: int = 5) -> str:
    """The few lines a person reads after a run."""
    t = result.timings
    lines = [f"{result.video}: {result.frames} frames, {result.width}x{result.height} at {result.fps:.2f} fps; "
             f"{len(result.persons)} person track(s): "
             + ", ".join(f"id {p['id']} ({p['frames_present']} frames)" for p in result.persons)]
    if result.probs is not None:
        lines.append(f"top-{topk} over {sum(np.isfinite(result.window_probs).all(axis=1))} window(s):")
        lines += [f"  {p['score']:6.1%}  {p['label']}" for p in result.top(result.probs, topk)]
    lines.append(f"pose {t.get('pose_fps', 0):.1f} frames/s; whole run {t.get('total_s', 0):.1f} s "
                 f"({t.get('frames_per_s', 0):.1f} frames/s, start-up {t.get('startup_s', 0):.1f} s)")
    return "\n".join(lines)


def _bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total or None, desc=desc, unit="frame", disable=not enabled, leave=False, dynamic_ncols=True)


# ------------------------------------------------------------------------------------------- video io


def open_video(path: Path) -> dict:
    """Frame count, fps and size of a video, or an InferenceError saying what is wrong with it."""
    from extract import video as vio

    try:
        info = vio.probe_video(path)
    except Exception as e:  # the reader's own one-line reasons (not a video, corrupt, ...)
        raise InferenceError(_one_line(e, path)) from None
    return dict(frames=max(int(info["frames"]), _declared_frames(path)), fps=float(info["fps"] or 0.0) or 30.0,
                width=int(info["width"]), height=int(info["height"]))


def _declared_frames(path: Path) -> int:
    """The frame count the container's header announces (0 if unknown).

    decord counts the frames it can index, so a truncated AVI looks like a shorter, valid clip; the
    header still says how long the clip should be, which lets a truncated file be reported as one.
    """
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT) if cap.isOpened() else 0
    finally:
        cap.release()
    return int(n) if n and n > 0 else 0


def read_frames(path: Path, max_width: int | None = None, rgb: bool = True):
    """Frames of the video (RGB for the landmarker, BGR for drawing), at most `max_width` wide."""
    from extract import video as vio

    try:
        yield from vio.iter_frames(path, max_width=max_width, rgb=rgb)
    except InferenceError:
        raise
    except Exception as e:
        raise InferenceError(_one_line(e, path)) from None
