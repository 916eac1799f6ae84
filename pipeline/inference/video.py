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
from pathlib import Path
from typing import Callable

import numpy as np

from extract import video as vio
from extract.crop_tracking import (MAX_POSE_WIDTH, MIN_TRACK_SECONDS, auto_pose_every,  # noqa: F401 (re-exported)
                                   track_poses)
from extract.fileio import one_line
from extract.overlay import write_overlay

# the names tools/infer_video.py and the tests use come from here, whichever module holds them
from pipeline.inference.predictor import (DEFAULT_CHECKPOINT, DEFAULT_CONFIG, InferenceError,  # noqa: F401
                        Predictor, how_to_get_checkpoint, load_predictor)
from pipeline.inference.runtime import ModelProcess
from pipeline.inference.timeline import frame_probs, segments
from pipeline.data.video_records import build_record, map_tracks
from pipeline.inference.result import InferenceResult, summary_text  # noqa: F401
from pipeline.inference.windows import (label_per_frame, person_groups, pick_persons, plan_windows,  # noqa: F401
                                        window_and_stride)

MIN_PRESENCE = 0.3  # a person gets a window of their own when present in at least this share of its frames
DEFAULT_WINDOW = 64  # frames; used when the checkpoint's config names no clip length


def infer_video(video: str | Path, predictor: Predictor | None = None, checkpoint: str | Path | None = None,
                device: str = "cpu", window: int | None = None, stride: int | None = None,
                overlay: str | Path | None = None, progress: bool = True, workers: int | None = None,
                pose_width: int = MAX_POSE_WIDTH, pose_every: int | None = None,
                started: float | None = None, backend: str = "auto",
                on_note: Callable[[str], None] | None = None) -> InferenceResult:
    """The whole run on one video. `started` is when the command began (start-up counts in the timings).

    Without a ready `predictor` the checkpoint is loaded in a child process (`ModelProcess`) while the
    pose stage runs, on the runtime `backend` picks (`pipeline.inference.runtime`: by default the
    checkpoint's verified ONNX twin where there is one); `on_note(line)` hears why a twin was passed over.
    A bad checkpoint still stops the run within a few frames. `pose_every` runs the
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
    remote = ModelProcess(path, device, backend)
    try:
        return _run(video, info, remote, remote, t0, window, stride, overlay, progress, workers, pose_width,
                    pose_every, on_note)
    finally:
        remote.close()


def _run(video: Path, info: dict, predictor, remote: ModelProcess | None, t0: float, window, stride, overlay,
         progress: bool, workers, pose_width: int, pose_every, on_note=None) -> InferenceResult:
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
        poses = track_people(video, info, pose_width, every, workers=workers, on_frame=on_frame,
                             on_start=started_pose)
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
        if remote.note and on_note is not None:
            on_note(remote.note)
    t_model = time.perf_counter()
    result = label_people(video, poses, info["fps"], predictor, window, stride)
    timings["model_s"] = time.perf_counter() - t_model
    result.model = model_info(predictor)
    result.timings = timings
    if overlay is not None:
        t_ov = time.perf_counter()
        bar = _bar(poses.frames, "overlay", progress)
        try:
            write_overlay(read_frames(video, rgb=False), overlay, info["fps"], poses, result.frame_labels,
                          on_frame=bar.update, person_labels=person_frame_labels(result))
        except (OSError, ValueError) as e:
            raise InferenceError(one_line(e, Path(overlay))) from None
        finally:
            bar.close()
        timings["overlay_s"] = time.perf_counter() - t_ov
    timings["total_s"] = time.perf_counter() - t0
    timings["frames_per_s"] = poses.frames / max(timings["total_s"], 1e-9)
    return result


def model_info(predictor) -> dict:
    """{file, runtime} of what labelled the clip (a child process's, or a predictor loaded here)."""
    if isinstance(predictor, ModelProcess):
        return dict(file=predictor.model_file, runtime=predictor.runtime)
    path = getattr(predictor, "path", None) or getattr(predictor, "checkpoint", None)
    return dict(file=str(path) if path is not None else None, runtime=getattr(predictor, "runtime", None))


def label_people(video: Path, poses, fps: float, predictor, window: int | None = None,
                 stride: int | None = None) -> InferenceResult:
    """Tracked people (`track_people`) -> labels: windows, a record per window and person group through
    the model's own test pipeline, per-person window probabilities, frame labels and timeline segments.
    Separate from the pose stage so that one tracking can be labelled by several models (benchmarks)."""
    window, stride = window_and_stride(predictor, fps, window, stride, DEFAULT_WINDOW)
    mapped = map_tracks(poses, predictor.layout)
    spans = plan_windows(poses.frames, window, stride)
    picks = [pick_persons(mapped.present, s, e, predictor.num_person) for s, e in spans]
    records, rows = [], []
    size = (poses.height, poses.width)
    for i, ((s, e), persons) in enumerate(zip(spans, picks)):
        if persons.size:
            records.append(build_record(mapped, persons, s, e, video.stem, size, predictor.layout, fps=fps))
            rows.append(i)
    # Per person (windows.person_groups): a group equal to the window's own pick reuses its record.
    row_of = {w: r for r, w in enumerate(rows)}
    person_rows: list[tuple[int, int, int]] = []  # (track index, window index, row in the predictions)
    for i, ((s, e), persons) in enumerate(zip(spans, picks)):
        for group in person_groups(mapped.present, s, e, predictor.num_person, MIN_PRESENCE):
            if group.tolist() == persons.tolist():
                row = row_of[i]
            else:
                row = len(records)
                records.append(build_record(mapped, group, s, e, video.stem, size, predictor.layout, fps=fps))
            person_rows += [(int(k), i, row) for k in group]
    all_probs = predictor.predict(records)
    probs = all_probs[:len(rows)]
    window_probs = np.full((len(spans), predictor.num_classes), np.nan, np.float32)
    window_probs[rows] = probs
    person_window_probs = np.full((len(mapped.ids), len(spans), predictor.num_classes), np.nan, np.float32)
    for k, i, r in person_rows:
        person_window_probs[k, i] = all_probs[r]

    ids = np.array(mapped.ids)
    result = InferenceResult(
        video=str(video), frames=poses.frames, fps=fps, width=poses.width, height=poses.height,
        class_names=list(predictor.class_names),
        persons=[dict(id=int(t.id), frames_present=t.frames_present) for t in poses.tracks],
        probs=probs.mean(axis=0) if len(probs) else None,
        windows=[dict(start=s, end=e, persons=ids[p].tolist()) for (s, e), p in zip(spans, picks)],
        window_probs=window_probs, timings={}, person_window_probs=person_window_probs,
    )
    result.frame_labels = label_per_frame(poses.frames, spans, window_probs, result.class_names)
    result.segments = [seg for k, track in enumerate(poses.tracks)
                       for seg in segments(frame_probs(person_window_probs[k], result.windows, poses.frames),
                                           fps, result.class_names, int(track.id))]
    return result


def track_people(video: Path, info: dict, pose_width: int = MAX_POSE_WIDTH, pose_every: int | None = None,
                 **track_kw):
    """Everyone in the video followed with inference's own settings (decode width, landmarker frame step,
    tracks under MIN_TRACK_SECONDS dropped): what `infer_video` labels, and what the tracking tests and
    `make bench-infer` measure. `info` is `open_video(video)`."""
    every = int(pose_every or auto_pose_every(info["fps"]))
    return track_poses(read_frames(video, max_width=pose_width), info["fps"], full_size=(info["height"], info["width"]),
                       every=every, min_seconds=MIN_TRACK_SECONDS, **track_kw)


def person_frame_labels(result: InferenceResult) -> dict[int, list[str | None]]:
    """Each person's current label per frame, from their timeline segments (drawn over their head)."""
    out: dict[int, list[str | None]] = {}
    for seg in result.segments:
        labels = out.setdefault(seg["person"], [None] * result.frames)
        a, b = int(round(seg["start_s"] * result.fps)), int(round(seg["end_s"] * result.fps))
        labels[a:min(b, result.frames)] = [f"{seg['label']} {seg['score']:.2f}"] * (min(b, result.frames) - a)
    return out


def _bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total or None, desc=desc, unit="frame", disable=not enabled, leave=False, dynamic_ncols=True)


def open_video(path: Path) -> dict:
    """Frame count, fps and size of a video, or an InferenceError saying what is wrong with it."""
    try:
        info = vio.probe_video(path)
    except Exception as e:  # the reader's own one-line reasons (not a video, corrupt, ...)
        raise InferenceError(one_line(e, path)) from None
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
    try:
        yield from vio.iter_frames(path, max_width=max_width, rgb=rgb)
    except Exception as e:  # the reader's one-line reasons, and whatever a decoder raises
        raise InferenceError(one_line(e, path)) from None
