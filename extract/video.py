"""Frame streaming for extraction and video inference: decord first, OpenCV as the fallback.

Frames come in a stream (a generator over small batches), so memory stays flat whatever the clip length.
Decoding can shrink frames on the fly (`max_width`): the pose models run at 224-256 px inputs, and
decoding a 1920x1080 frame at 640 wide is several times cheaper than at full size. Problems come out as
one-line errors naming the file: missing, not a video, no frames, corrupt or truncated.
"""
from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

BATCH = 16


class VideoError(ValueError):
    """The file is not a usable video (message names the file and the problem)."""


def _check_file(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file, not a video")


def _target_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    if not max_width or width <= max_width:
        return width, height
    scale = max_width / width
    return max_width, max(2, int(round(height * scale / 2)) * 2)


def probe_video(path: str | Path) -> dict:
    """dict(frames, fps, width, height, backend) without decoding the whole clip."""
    path = Path(path)
    _check_file(path)
    try:
        import decord

        vr = decord.VideoReader(str(path), num_threads=1)
        frames = len(vr)
        h, w = vr[0].shape[:2] if frames else (0, 0)
        info = dict(frames=frames, fps=float(vr.get_avg_fps() or 0.0), width=int(w), height=int(h), backend="decord")
    except Exception as e:
        info = _probe_cv2(path, decord_error=_reason(e))
    if info["frames"] <= 0 or info["width"] <= 0:
        raise VideoError(f"{path}: video has no frames")
    return info


def _reason(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__  # decord's messages carry C++ backtraces


def _probe_cv2(path: Path, decord_error: str) -> dict:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: not a readable video (decord: {decord_error}; OpenCV: cannot open it)")
        ok, frame = cap.read()
        if not ok:
            raise VideoError(f"{path}: not a readable video (decord: {decord_error}; OpenCV: no decodable frame)")
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        return dict(frames=max(frames, 1), fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0), width=frame.shape[1],
                    height=frame.shape[0], backend="opencv")
    finally:
        cap.release()


def iter_frames(path: str | Path, max_width: int | None = None, rgb: bool = True) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 frames (RGB, or BGR with rgb=False), at most max_width wide."""
    path = Path(path)
    info = probe_video(path)
    w, h = _target_size(info["width"], info["height"], max_width)
    if info["backend"] == "decord":
        yield from _iter_decord(path, info["frames"], w, h, rgb)
    else:
        yield from _iter_cv2(path, w, h, rgb)


def _iter_decord(path: Path, frames: int, w: int, h: int, rgb: bool) -> Iterator[np.ndarray]:
    """decord in batches; where it fails (some codecs and sizes, a damaged stretch), OpenCV takes over
    from the first frame not yet delivered, and says so if it cannot either."""
    import decord

    start = 0
    try:
        vr = decord.VideoReader(str(path), width=w, height=h, num_threads=1)
        for start in range(0, frames, BATCH):
            batch = vr.get_batch(list(range(start, min(start + BATCH, frames)))).asnumpy()
            for frame in batch:
                yield frame if rgb else np.ascontiguousarray(frame[..., ::-1])
        return
    except Exception as e:
        error = _reason(e)
    produced = 0
    for frame in _iter_cv2(path, w, h, rgb, skip=start):
        produced += 1
        yield frame
    if produced == 0:
        raise VideoError(f"{path}: corrupt or truncated video: no frame from {start} of {frames} decodes "
                         f"(decord: {error}; OpenCV: no frame either)")


def _iter_cv2(path: Path, w: int, h: int, rgb: bool, skip: int = 0) -> Iterator[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        for _ in range(skip):  # grab, not seek: seeking is inexact for many codecs
            if not cap.grab():
                return
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield _fit(frame, w, h, rgb)
    finally:
        cap.release()


def _fit(frame_bgr: np.ndarray, w: int, h: int, rgb: bool) -> np.ndarray:
    import cv2

    if frame_bgr.shape[1] != w:
        frame_bgr = cv2.resize(frame_bgr, (w, h), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB) if rgb else frame_bgr


def fit_frame(frame_bgr: np.ndarray, max_width: int | None = None, rgb: bool = True) -> np.ndarray:
    """One BGR frame from elsewhere (a camera, a stream) the way `iter_frames` decodes a file's: at most
    `max_width` wide, aspect kept, RGB unless `rgb=False`."""
    h, w = frame_bgr.shape[:2]
    return _fit(frame_bgr, *_target_size(w, h, max_width), rgb)


class prefetch:  # noqa: N801 - used like a function: `with prefetch(frames) as it: for f in it: ...`
    """Decode ahead in a background thread (decord and OpenCV release the GIL), so decoding overlaps
    pose estimation instead of adding to it. Decoding starts at construction, so it also overlaps whatever
    the caller sets up before the first frame (a pose model's start-up). Decoder errors are re-raised in the
    caller; `close()` (or leaving the `with` block) stops the thread and frees the decoder."""

    _DONE = object()

    def __init__(self, frames: Iterator[np.ndarray], depth: int = 32):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._frames = frames
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            for f in self._frames:
                if self._stop.is_set():
                    return
                self._queue.put(f)
            self._queue.put(self._DONE)
        except BaseException as e:  # handed to the consumer
            self._queue.put(e)

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(0.05)

    def __enter__(self) -> "prefetch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
