"""Live action labels from a camera, a network stream, or a file played at its own frame rate.

Why it is built this way:
- Live input cannot wait for us. A reader thread takes frames as they come (a camera at its rate, a file
  paced by its timestamps) into a one-frame slot; the recogniser always takes the newest frame, and a frame
  it had no time for is dropped and counted. So a slow CPU shows up as dropped frames, never as a backlog
  that grows: the lag between a frame's arrival and its pose stays bounded.
- People are followed exactly as offline (`extract.crop_tracking.CropPoseTracker`) and every `stride`
  seconds the last `window` seconds are resampled onto the model's own frame grid (the nearest processed
  frame for each), turned into the same records as offline (`pipeline.data.video_records`) and labelled on a
  model thread while the pose stage goes on.
- A label is reported when a person's label changes, with its latency: the wall time from the arrival of
  the window's last frame to the label being printed.
"""
from __future__ import annotations

import json
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

import numpy as np

from extract import video as vio
from extract.crop_tracking import CropPoseTracker
from extract.fileio import one_line, printable
from extract.multiperson import PoseFrame, assemble_tracks, default_workers

from pipeline.inference.video import MIN_PRESENCE
from pipeline.inference.predictor import InferenceError
from pipeline.data.video_records import build_record, map_tracks
from pipeline.inference.windows import person_groups, window_and_stride

STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
LIVE_TOOL = "pggcn infer_video --live"  # the `tool` of the "start" line a live run writes to --json
MAX_FIRST_LINE = 64 << 20  # bytes of an existing --json file read to recognise it (a start line names the classes)


def check_live_log(path: str | Path) -> None:
    """A live run appends JSON lines to --json, so it may only append to a file of live events: a new
    file, an empty one, or one whose first line is a JSON object with an "event" (as every line live mode
    writes; its "start" line also says `tool`). Anything else (a checkpoint, a video, a JSON report) is
    refused in one line naming it, before any work."""
    path = Path(path)
    if not path.exists():
        return
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    try:
        with open(path, "rb") as f:
            first = f.readline(MAX_FIRST_LINE)
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from None
    if not first:
        return
    try:
        obj = json.loads(first)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or a first line longer than MAX_FIRST_LINE
        obj = None
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        raise ValueError(f"{path}: not a JSON-lines file of live events (its first line is no JSON object with an "
                         f"\"event\"); live --json appends only to such a file or a new one, so choose another path")


def is_live_source(source: str) -> bool:
    """A camera index (`0`) or a stream URL: always live. A file is live only with --live."""
    return source.isdigit() or source.lower().startswith(STREAM_PREFIXES)


@dataclass
class Frame:
    image: np.ndarray  # RGB, at most max_width wide
    index: int  # the source's own frame number
    time_s: float  # stream time: the file's timestamp, or seconds since the camera/stream opened
    arrived: float  # time.perf_counter() when it became available


class LiveSource:
    """Frames from a camera index, a stream URL or a file paced at its frame rate, newest-first.

    `get()` returns the newest frame not taken yet (or None at the end); frames that arrived in between
    are dropped and counted in `dropped`.
    """

    def __init__(self, source: str, max_width: int = 960):
        self.source = source
        self.max_width = max_width
        self._cap = None
        if is_live_source(source):
            import cv2

            self.kind = "camera" if source.isdigit() else "stream"
            self._cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
            if not self._cap.isOpened():
                what = f"camera {source}" if source.isdigit() else source
                raise InferenceError(f"{what}: cannot be opened (no such device or stream, or it is busy)")
            self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
            self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        else:
            self.kind = "file"
            path = Path(source)
            if not path.is_file():
                raise InferenceError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
            try:
                info = vio.probe_video(path)
            except Exception as e:
                raise InferenceError(one_line(e, path)) from None
            self.fps = float(info["fps"] or 0.0) or 30.0
            self.width, self.height = int(info["width"]), int(info["height"])
        self.captured = 0
        self.dropped = 0
        self.finished = False
        self.error: str | None = None
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="live-source", daemon=True)

    def start(self) -> "LiveSource":
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            if self._slot is not None:
                self.dropped += 1
            self._slot = frame
            self.captured += 1
            self._cond.notify()

    def _read(self) -> None:
        try:
            if self._cap is not None:
                self._read_capture()
            else:
                self._read_file()
        except Exception as e:  # handed to the consumer as one line
            self.error = one_line(e, Path(self.source) if self.kind == "file" else None)
        finally:
            with self._cond:
                self.finished = True
                self._cond.notify()

    def _read_file(self) -> None:
        """Each frame becomes available at its own time (start + index / fps), never earlier."""
        for i, image in enumerate(vio.iter_frames(self.source, max_width=self.max_width)):
            if self._stop.is_set():
                return
            due = self.started + i / self.fps
            wait = due - time.perf_counter()
            if wait > 0 and self._stop.wait(wait):
                return
            self._publish(Frame(image, i, i / self.fps, due if wait > 0 else time.perf_counter()))

    def _read_capture(self) -> None:
        i = 0
        while not self._stop.is_set():
            ok, bgr = self._cap.read()
            if not ok:
                return
            now = time.perf_counter()
            self._publish(Frame(vio.fit_frame(bgr, self.max_width), i, now - self.started, now))
            i += 1

    def get(self, timeout: float = 1.0) -> Frame | None:
        """The newest frame not taken yet; None when the source has ended (or nothing came in `timeout`)."""
        with self._cond:
            self._cond.wait_for(lambda: self._slot is not None or self.finished, timeout=timeout)
            frame, self._slot = self._slot, None
            return frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        if self._cap is not None:
            self._cap.release()


@dataclass
class LiveEvent:
    time_s: float  # stream time of the window's last frame
    person: int
    label: str
    class_id: int
    score: float
    latency_s: float  # arrival of the window's last frame -> label reported
    frame: int

    def to_json(self) -> dict:
        return dict(event="label", time_s=round(self.time_s, 3), person=self.person, label=self.label,
                    class_id=self.class_id, score=round(self.score, 4), latency_s=round(self.latency_s, 3),
                    frame=self.frame)

    def text(self) -> str:
        """The line printed for this change (the label comes from the model file: control characters escaped)."""
        return (f"{self.time_s:8.2f} s  person {self.person}: {printable(self.label)} {self.score:.0%}  "
                f"(latency {self.latency_s:.2f} s)")


@dataclass
class _Pending:
    future: Future
    persons: list[list[int]]  # per record: the person ids its prediction belongs to
    time_s: float
    arrived: float
    frame: int


@dataclass
class LiveRun:
    """What a live run measured; `summary()` is the JSON the run ends with."""

    source: str
    fps: float
    window_s: float
    stride_s: float
    events: list[LiveEvent] = field(default_factory=list)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (stream time, arrival -> pose done, s)
    latencies: list[float] = field(default_factory=list)  # every labelled window, changed or not
    captured: int = 0
    processed: int = 0
    dropped: int = 0
    seconds: float = 0.0
    stopped_by: str = "end of input"

    def summary(self) -> dict:
        lat = np.array(self.latencies) if self.latencies else np.zeros(0)
        lags = np.array(self.lags) if self.lags else np.zeros((0, 2))
        first = lags[lags[:, 0] <= lags[0, 0] + 10, 1] if len(lags) else lags
        last = lags[lags[:, 0] >= lags[-1, 0] - 10, 1] if len(lags) else lags

        def stat(a, f):
            return round(float(f(a)), 3) if len(a) else None

        return dict(
            event="end", source=self.source, stopped_by=self.stopped_by, seconds=round(self.seconds, 2),
            source_fps=round(self.fps, 3), window_s=round(self.window_s, 3), stride_s=round(self.stride_s, 3),
            frames_captured=self.captured, frames_processed=self.processed, frames_dropped=self.dropped,
            dropped_ratio=round(self.dropped / max(self.captured, 1), 4),
            processed_fps=round(self.processed / max(self.seconds, 1e-9), 2),
            labelled_windows=len(self.latencies), label_changes=len(self.events),
            latency_median_s=stat(lat, np.median), latency_p90_s=stat(lat, lambda a: np.percentile(a, 90)),
            latency_max_s=stat(lat, np.max),
            lag_first_10s_s=stat(first, np.median), lag_last_10s_s=stat(last, np.median),
        )


def live_windows(predictor, fps: float, window: int | None, stride: int | None,
                 default_window: int) -> tuple[int, float, float]:
    """(frames per window on the model's grid, window seconds, stride seconds), as offline inference would
    cut a video at `fps` (a model trained in seconds gets the same duration)."""
    window, stride = window_and_stride(predictor, fps, window, stride, default_window)
    return window, window / fps, stride / fps


def window_records(buffer: deque, end_s: float, frames: int, fps: float, size: tuple[int, int], predictor,
                   name: str) -> tuple[list[dict], list[list[int]]]:
    """The last `frames` frames on the grid (end_s - frames/fps, end_s] -> records and, per record, the
    person ids its prediction belongs to (`windows.person_groups`, as offline)."""
    times = np.array([b[0] for b in buffer])
    grid = end_s - (frames - 1 - np.arange(frames)) / fps  # (frames,) newest last
    nearest = np.clip(np.searchsorted(times, grid), 0, len(times) - 1)
    prev = np.clip(nearest - 1, 0, len(times) - 1)
    nearest = np.where(np.abs(times[prev] - grid) < np.abs(times[nearest] - grid), prev, nearest)
    gap = np.abs(times[nearest] - grid)
    empty = (np.zeros(0, np.int64), PoseFrame.empty())
    # a grid time further than 0.25 s from any processed frame had no pose: absent, as a missing frame offline
    per_frame = [(buffer[j][1], buffer[j][2]) if g <= 0.25 else empty for j, g in zip(nearest, gap)]
    poses = assemble_tracks(per_frame, size, every=1, frames=frames)
    mapped = map_tracks(poses, predictor.layout)
    if not mapped.ids:
        return [], []
    ids = np.array(mapped.ids)
    groups = person_groups(mapped.present, 0, frames, predictor.num_person, MIN_PRESENCE)
    records = [build_record(mapped, g, 0, frames, name, size, predictor.layout, fps=fps) for g in groups]
    return records, [ids[g].tolist() for g in groups]


@contextmanager
def ctrl_c_stops():
    """Ctrl-C sets the yielded event instead of raising KeyboardInterrupt wherever the main thread is.

    Raised, it could land during set-up (an import then failed as "initialization failed") or in the middle of
    the clean-up, and the run's summary line could say "end of input" or be missing; as a flag, the loop stops
    at the next frame and the summary always says "Ctrl-C". Reads in other threads (the decoder) are resumed
    rather than failed by the signal. A second Ctrl-C interrupts at once. Off the main thread (no handler can
    be set there) nothing changes."""
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return

    def on_sigint(signum, frame):
        if pressed.is_set():
            raise KeyboardInterrupt
        pressed.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    signal.siginterrupt(signal.SIGINT, False)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def run_live(source: LiveSource, predictor, *, window: int | None = None, stride: int | None = None,
             max_seconds: float | None = None, default_window: int = 64, workers: int | None = None,
             on_event: Callable[[LiveEvent], None] | None = None, json_lines: TextIO | None = None) -> LiveRun:
    """Follow people and label them as the frames come, until the input ends, `max_seconds` pass or Ctrl-C.

    Every label change is passed to `on_event` and written to `json_lines` (one JSON object per line,
    flushed, so a reader can follow it while it grows); the run's summary is its last line.
    """
    frames, window_s, stride_s = live_windows(predictor, source.fps, window, stride, default_window)
    run = LiveRun(source=source.source, fps=source.fps, window_s=window_s, stride_s=stride_s)

    def write(obj: dict) -> None:
        if json_lines is not None:
            json_lines.write(json.dumps(obj) + "\n")
            json_lines.flush()

    with ctrl_c_stops() as pressed:
        _live_loop(source, predictor, run, pressed, frames, window_s, stride_s, max_seconds, workers, on_event,
                   write)
    return run


def _live_loop(source: LiveSource, predictor, run: LiveRun, pressed: threading.Event, frames: int,
               window_s: float, stride_s: float, max_seconds: float | None, workers: int | None,
               on_event: Callable[[LiveEvent], None] | None, write: Callable[[dict], None]) -> None:
    """`run_live`'s frames, from the "start" line to the summary line, which is written however it ends."""
    full = (source.height, source.width)
    buffer: deque = deque()
    last_label: dict[int, int] = {}
    model = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-model")
    pending: _Pending | None = None
    next_at = min(window_s, stride_s)

    def collect(p: _Pending) -> None:
        probs = p.future.result()  # the predictor's own one-line errors propagate
        latency = time.perf_counter() - p.arrived
        run.latencies.append(latency)  # one per labelled window, however many people it labelled
        for row, persons in zip(probs, p.persons):
            best = int(np.argmax(row))
            for pid in persons:
                if last_label.get(pid) != best:
                    last_label[pid] = best
                    ev = LiveEvent(p.time_s, pid, predictor.class_names[best], best, float(row[best]), latency, p.frame)
                    run.events.append(ev)
                    write(ev.to_json())
                    if on_event is not None:
                        on_event(ev)

    write(dict(event="start", tool=LIVE_TOOL, source=source.source, kind=source.kind, fps=round(source.fps, 3), width=source.width,
               height=source.height, window_s=round(window_s, 3), stride_s=round(stride_s, 3),
               classes=list(predictor.class_names)))
    t0 = time.perf_counter()
    tracker = None
    try:
        tracker = CropPoseTracker(threads=workers or default_workers())
        source.start()
        while not pressed.is_set():
            if max_seconds is not None and time.perf_counter() - t0 >= max_seconds:
                run.stopped_by = "--max-seconds"
                break
            frame = source.get(timeout=0.5)
            if frame is None:
                if source.finished:
                    if source.error:
                        raise InferenceError(source.error)
                    break
                continue
            pf, ids = tracker.update(frame.image, int(round(frame.time_s * 1000)))
            h, w = frame.image.shape[:2]
            if (h, w) != full:
                pf.keypoints *= np.array([full[1] / w, full[0] / h], np.float32)
            buffer.append((frame.time_s, ids, pf))
            while buffer and buffer[0][0] < frame.time_s - window_s - 1.0:
                buffer.popleft()
            run.processed += 1
            run.lags.append((frame.time_s, time.perf_counter() - frame.arrived))
            if pending is not None and pending.future.done():
                collect(pending)
                pending = None
            if pending is None and frame.time_s >= next_at:
                records, persons = window_records(buffer, frame.time_s, frames, source.fps, full, predictor,
                                                  name=f"live-{frame.index}")
                next_at = frame.time_s + stride_s
                if records:
                    pending = _Pending(model.submit(predictor.predict, records), persons, frame.time_s,
                                       frame.arrived, frame.index)
    except KeyboardInterrupt:  # a second Ctrl-C, or run_live called off the main thread
        pressed.set()
    finally:
        if pressed.is_set():
            run.stopped_by = "Ctrl-C"
        source.close()
        if tracker is not None:
            tracker.close()
        if pending is not None:
            try:
                collect(pending)
            except KeyboardInterrupt:
                pass
        model.shutdown(wait=True)
        run.seconds = time.perf_counter() - t0
        run.captured, run.dropped = source.captured, source.dropped
        write(run.summary())
