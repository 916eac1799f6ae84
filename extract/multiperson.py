"""Several people's BlazePose keypoints on an ordinary video, offline, with stable person ids.

The legacy `mp.solutions.pose` finds one person; the Tasks `PoseLandmarker` finds several but needs a
`.task` bundle that the mediapipe 0.10.21 wheel does not ship, and nothing may be downloaded. So the bundle
is assembled once from the wheel's own two tflite models (with the normalisation metadata the Tasks API
insists on) and cached. VIDEO mode with `min_tracking_confidence=0.9` keeps two people standing close
apart (0.5 merges them, 0.99 loses them; see the measured notes).

What inference and the video-folder extraction use is `extract.crop_tracking.track_poses`, which follows
each person in a crop of their own with this landmarker and assembles the tracks with `assemble_tracks`
(which also interpolates frames the landmarker skipped). `detect_poses` is the plain full-frame
landmarker (with `extract.tracker.PoseTracker` for ids), kept for measurements.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import zipfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .fileio import atomic_open


NUM_LANDMARKS = 33
BUNDLE_NAME = "pose_landmarker_full.task"
# (bundle member, wheel file, input mean, input std, number of model outputs)
_BUNDLE_MODELS = (
    ("pose_detector.tflite", "modules/pose_detection/pose_detection.tflite", 127.5, 127.5, 2),
    ("pose_landmarks_detector.tflite", "modules/pose_landmark/pose_landmark_full.tflite", 0.0, 255.0, 5),
)


def _wheel_dir() -> Path:
    import mediapipe

    return Path(mediapipe.__file__).parent


def _with_metadata(tflite: bytes, name: str, mean: float, std: float, outputs: int) -> bytes:
    """The Tasks API refuses float-input models without NormalizationOptions metadata: add it."""
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer as mw

    writer = mw.MetadataWriter.create(bytearray(tflite))
    writer.add_general_info(name, f"{name} from the mediapipe wheel, with input normalisation metadata")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    for _ in range(outputs):
        writer.add_feature_output()
    return bytes(writer.populate()[0])


def build_bundle_bytes() -> bytes:
    """A PoseLandmarker .task bundle (a stored zip of two tflite models) built from the installed wheel."""
    root = _wheel_dir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for member, rel, mean, std, outputs in _BUNDLE_MODELS:
            src = root / rel
            if not src.is_file():
                raise FileNotFoundError(f"{src}: missing from the mediapipe wheel (mediapipe==0.10.21 ships it)")
            info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))  # same bytes on every build
            zf.writestr(info, _with_metadata(src.read_bytes(), Path(member).stem, mean, std, outputs))
    return buf.getvalue()


def cache_dir() -> Path:
    """The user's own cache folder (PGGCN_CACHE, else $XDG_CACHE_HOME/pggcn or ~/.cache/pggcn); never a
    shared temp folder, where another user could plant a bundle."""
    env = os.environ.get("PGGCN_CACHE")
    return Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pggcn"


def _wheel_fingerprint() -> str:
    """Changes whenever the wheel's models change, so a stale bundle is never reused."""
    import mediapipe

    root = _wheel_dir()
    h = hashlib.sha256(mediapipe.__version__.encode())
    for _, rel, *_ in _BUNDLE_MODELS:
        st = (root / rel).stat()
        h.update(f"{rel}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:12]


def landmarker_bundle(folder: str | os.PathLike | None = None) -> Path | None:
    """Path of the cached .task bundle, (re)built atomically when missing or when its bytes do not match the
    SHA-256 recorded beside it (a damaged or altered file); None when the cache folder is not writable."""
    folder = Path(folder) if folder is not None else cache_dir()
    path = folder / f"{Path(BUNDLE_NAME).stem}-{_wheel_fingerprint()}.task"
    digest = path.with_name(path.name + ".sha256")
    if path.is_file() and digest.is_file():
        with contextlib.suppress(OSError):
            if hashlib.sha256(path.read_bytes()).hexdigest() == digest.read_text().strip():
                return path
    data = build_bundle_bytes()
    try:
        with atomic_open(path, "wb") as f:
            f.write(data)
        with atomic_open(digest, "w") as f:
            f.write(hashlib.sha256(data).hexdigest() + "\n")
    except OSError:
        return None
    return path


@dataclass
class PoseFrame:
    """The poses found in one frame, in the landmarker's (unstable) order.

    keypoints (P, 33, 2) full-frame pixels; scores (P, 33) visibility in [0, 1]; world (P, 33, 3) metres,
    MediaPipe axes (x right in the image, y down, z away), hip-centred.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    world: np.ndarray

    @classmethod
    def empty(cls) -> "PoseFrame":
        return cls(np.zeros((0, NUM_LANDMARKS, 2), np.float32), np.zeros((0, NUM_LANDMARKS), np.float32),
                   np.zeros((0, NUM_LANDMARKS, 3), np.float32))


class MultiPersonPose:
    """MediaPipe PoseLandmarker; in VIDEO mode (the default) one instance per video, as it tracks across
    calls; `video=False` looks at each image afresh (the crop tracker's discovery pass)."""

    def __init__(self, num_poses: int = 2, min_detection_confidence: float = 0.5,
                 min_presence_confidence: float = 0.5, min_tracking_confidence: float = 0.9,
                 bundle: str | os.PathLike | None = None, video: bool = True):
        os.environ.setdefault("GLOG_minloglevel", "2")
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        # a verified cached bundle is handed over by path, which mediapipe maps instead of copying: 0.12-0.16 s
        # per landmarker instead of 0.16-0.20 s (a clip's tracker makes up to 5)
        path = Path(bundle) if bundle is not None else landmarker_bundle()
        if bundle is not None and not path.is_file():
            raise FileNotFoundError(f"{path}: landmarker bundle not found")
        base = BaseOptions(model_asset_path=str(path)) if path is not None else \
            BaseOptions(model_asset_buffer=build_bundle_bytes())
        options = vision.PoseLandmarkerOptions(
            base_options=base,
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_poses=num_poses,
            min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self._landmarker = vision.PoseLandmarker.create_from_options(options)
        self._video = video
        self._last_ts = -1
        self.calls = 0  # landmark passes run so far (`detect` calls): the tracker's cost model counts them

    @property
    def video(self) -> bool:
        """VIDEO mode: it follows what it found from call to call (and smooths over them)."""
        return self._video

    def close(self) -> None:
        self._landmarker.close()

    def __enter__(self) -> "MultiPersonPose":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def detect(self, frame_rgb: np.ndarray, timestamp_ms: int, full_size: tuple[int, int] | None = None) -> PoseFrame:
        """Poses in one RGB uint8 frame (H, W, 3). `full_size` (height, width) scales the pixel keypoints
        to the original frame when `frame_rgb` was decoded at reduced resolution."""
        ts = max(int(timestamp_ms), self._last_ts + 1)  # VIDEO mode needs strictly increasing timestamps
        self._last_ts = ts
        self.calls += 1
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame_rgb))
        res = self._landmarker.detect_for_video(image, ts) if self._video else self._landmarker.detect(image)
        if not res.pose_landmarks:
            return PoseFrame.empty()
        h, w = full_size if full_size is not None else frame_rgb.shape[:2]
        img = np.array([[(lm.x, lm.y, lm.visibility) for lm in pose] for pose in res.pose_landmarks],
                       dtype=np.float32)  # (P, 33, 3)
        world = np.array([[(lm.x, lm.y, lm.z) for lm in pose] for pose in res.pose_world_landmarks],
                         dtype=np.float32)  # (P, 33, 3)
        keypoints = img[..., :2] * np.array([w, h], np.float32)
        scores = np.clip(np.nan_to_num(img[..., 2]), 0.0, 1.0)
        return PoseFrame(keypoints, scores, world)


@dataclass
class PersonTrack:
    """One tracked person over the whole video; absent frames are zeros with score 0.

    keypoints (T, 33, 2) pixels; scores (T, 33); world (T, 33, 3) MediaPipe axes; present (T,) bool.
    """

    id: int
    keypoints: np.ndarray
    scores: np.ndarray
    world: np.ndarray
    present: np.ndarray

    @property
    def frames_present(self) -> int:
        return int(self.present.sum())


@dataclass
class VideoPoses:
    """Everything the pose stage found in one video. `calls`: what it cost, where the pose stage counts it
    (the crop tracker: {frames, follow, discover, resolve}, landmarker passes by kind over `frames` processed
    frames); empty otherwise."""

    frames: int
    height: int
    width: int
    tracks: list[PersonTrack] = field(default_factory=list)
    calls: dict = field(default_factory=dict)

    def ids_per_frame(self) -> list[list[int]]:
        if not self.tracks:
            return [[] for _ in range(self.frames)]
        present = np.stack([t.present for t in self.tracks], axis=1)  # (T, K)
        ids = np.array([t.id for t in self.tracks])
        return [ids[row].tolist() for row in present]


def default_workers() -> int:
    """Threads for landmarkers that run side by side (mediapipe releases the GIL): one per core, at most 2.

    `crop_tracking.track_poses` runs the landmarkers of the people in view on them; `detect_poses` deals pieces of the
    video to that many full-frame landmarkers (1.23x the frames/s of one on the 2-core CPU)."""
    return max(1, min(2, os.cpu_count() or 1))


def _detect_chunk(est: MultiPersonPose, chunk: list[tuple[int, np.ndarray]], step: float,
                  size: tuple[int, int]) -> list[PoseFrame]:
    return [est.detect(frame, int(round(i * step)), full_size=size) for i, frame in chunk]


def detect_poses(frames: Iterable[np.ndarray], fps: float, full_size: tuple[int, int] | None = None,
                 workers: int | None = None, chunk: int = 32, on_start: Callable[[], None] | None = None,
                 every: int = 1, **landmarker_kw) -> Iterator[PoseFrame]:
    """Yield one PoseFrame per `every`-th RGB frame (frames 0, every, 2 * every, ...), in frame order.

    `full_size` (height, width) is the original frame size when frames come decoded smaller. With
    `workers` > 1 the video is cut into `chunk`-frame pieces dealt round-robin to that many landmarkers,
    each on its own thread (a landmarker picks a person up again by detection at the start of a piece).
    At most 2 pieces per worker are in flight, so memory stays bounded on long videos. `on_start()` is
    called once the landmarkers are ready (start-up timing).
    """
    workers = workers or default_workers()
    step = 1000.0 / fps if fps and fps > 0 else 1000.0 / 30.0
    size = full_size
    estimators = [MultiPersonPose(**landmarker_kw) for _ in range(workers)]
    # one single-thread executor per landmarker: its pieces run in order, never two at once
    pools = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pose{k}") for k in range(workers)]
    pending: deque[Future] = deque()
    if on_start is not None:
        on_start()
    try:
        buf: list[tuple[int, np.ndarray]] = []
        n_chunks = 0
        for i, frame in enumerate(frames):
            if i % every:
                continue
            if size is None:
                size = frame.shape[:2]
            buf.append((i, frame))
            if len(buf) == chunk:
                k = n_chunks % workers
                pending.append(pools[k].submit(_detect_chunk, estimators[k], buf, step, size))
                n_chunks += 1
                buf = []
                while len(pending) > 2 * workers:
                    yield from pending.popleft().result()
        if buf:
            k = n_chunks % workers
            pending.append(pools[k].submit(_detect_chunk, estimators[k], buf, step, size))
        while pending:
            yield from pending.popleft().result()
    finally:
        for fut in pending:
            fut.cancel()
        for pool in pools:
            pool.shutdown(wait=True)
        for est in estimators:
            with contextlib.suppress(Exception):
                est.close()


def _interpolate_skipped(kp: np.ndarray, sc: np.ndarray, wd: np.ndarray, present: np.ndarray, every: int) -> None:
    """Fill the frames between detections (in place): lerp where the person is seen on both sides."""
    T = present.shape[1]
    t = np.arange(T)
    t0 = t // every * every  # (T,) previous detected frame
    t1 = t0 + every
    t1 = np.where(t1 < T, t1, t0)  # after the last detection: hold it
    a = ((t - t0) / every).astype(np.float32)
    skipped = t % every != 0
    ok = present[:, t0] & present[:, t1] & skipped  # (K, T)
    for arr in (kp, sc, wd):
        shape = (1, T) + (1,) * (arr.ndim - 2)
        w = a.reshape(shape)
        fill = (1 - w) * arr[:, t0] + w * arr[:, t1]
        arr[ok] = fill[ok]
    present |= ok


def assemble_tracks(per_frame: list[tuple[np.ndarray, PoseFrame]], size: tuple[int, int], every: int = 1,
                    frames: int | None = None) -> VideoPoses:
    """Scatter per-frame (ids, poses) into one zero-padded array set per id (ids in order of appearance).

    `per_frame[j]` belongs to video frame j * every; with `every` > 1 the frames between two detections of
    a person are linearly interpolated, and those after the last detection hold it (to `frames` in all).
    """
    T = frames if frames is not None else len(per_frame) * every
    order: list[int] = []
    for ids, _ in per_frame:
        for i in ids:
            if i >= 0 and i not in order:
                order.append(int(i))
    K = len(order)
    col = {tid: k for k, tid in enumerate(order)}
    kp = np.zeros((K, T, NUM_LANDMARKS, 2), np.float32)
    sc = np.zeros((K, T, NUM_LANDMARKS), np.float32)
    wd = np.zeros((K, T, NUM_LANDMARKS, 3), np.float32)
    present = np.zeros((K, T), bool)
    for j, (ids, pf) in enumerate(per_frame):
        t = j * every
        keep = np.flatnonzero(np.asarray(ids) >= 0)
        if keep.size == 0:
            continue
        k = np.array([col[int(ids[j])] for j in keep])
        kp[k, t] = pf.keypoints[keep]
        sc[k, t] = pf.scores[keep]
        wd[k, t] = pf.world[keep]
        present[k, t] = True
    if every > 1 and T:
        _interpolate_skipped(kp, sc, wd, present, every)
    tracks = [PersonTrack(tid, kp[k], sc[k], wd[k], present[k]) for k, tid in enumerate(order)]
    return VideoPoses(frames=T, height=int(size[0]), width=int(size[1]), tracks=tracks)
