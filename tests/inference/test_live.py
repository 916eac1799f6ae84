"""Live input: a file played at its own frame rate stands in for a camera (there is none here).

What matters to a user: labels come out while the video plays, each with its latency; frames the CPU has
no time for are dropped instead of piling up; --max-seconds and Ctrl-C both end the run with the JSON
lines complete (a "start" line, the label changes, an "end" line with the figures).
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.inference.live import LiveSource, is_live_source, live_windows

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "tools" / "infer_video.py"
GROUP = ROOT / "tests/assets/videos/group_exercise_3p_384x288.avi"  # 10 fps, 39 s, three people


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sources_that_are_always_live():
    assert is_live_source("0") and is_live_source("rtsp://cam/1") and is_live_source("HTTP://x/y.mjpg")
    assert not is_live_source("clip.mp4") and not is_live_source("0.mp4")


def test_a_slow_consumer_gets_the_newest_frame_and_the_rest_are_dropped():
    """Counted in frames, not seconds (no timing assertions in tests; `make bench-infer` times live latency)."""
    src = LiveSource(str(GROUP)).start()
    got = []
    try:
        for _ in range(6):
            arrived = src.captured  # frames arrived before asking: the newest of them is frame arrived - 1
            f = src.get(timeout=5.0)
            got.append((f.index, arrived))
            time.sleep(0.35)  # a recogniser that manages < 3 frames/s on a 10 fps source
        with src._cond:
            pending = int(src._slot is not None)
            captured, dropped = src.captured, src.dropped
    finally:
        src.close()
    idx = [g[0] for g in got]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)
    assert np.diff(idx).min() >= 2  # frames in between were dropped, not queued
    # what is taken is the newest frame there is (a queue would hand out the oldest)
    assert all(index >= arrived - 1 for index, arrived in got), got
    # every frame that arrived was taken, dropped or is waiting: none queued, none lost uncounted
    assert captured == len(got) + dropped + pending, (captured, len(got), dropped, pending)


def test_live_file_prints_labels_with_latency_and_stops_at_max_seconds(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text('{"event": "earlier run"}\n')  # appended to, never replaced
    proc = subprocess.run([sys.executable, str(CLI), str(GROUP), "--live", "--max-seconds", "8", "--json", str(log)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = _lines(log)
    assert lines[0] == {"event": "earlier run"} and lines[1]["event"] == "start" and lines[-1]["event"] == "end"
    labels = [x for x in lines if x["event"] == "label"]
    assert labels, proc.stdout
    for ev in labels:
        assert set(ev) == {"event", "time_s", "person", "label", "class_id", "score", "latency_s", "frame"}
        assert ev["label"] in lines[1]["classes"] and ev["time_s"] <= 8.5
    end = lines[-1]
    assert end["stopped_by"] == "--max-seconds" and end["seconds"] >= 7.5
    # a file is played at its own pace (10 fps), never faster; how fast labels come is bench-infer's to time
    assert 0 < end["frames_captured"] <= 10 * end["seconds"] + 2
    assert end["frames_processed"] + end["frames_dropped"] <= end["frames_captured"]
    assert end["latency_p90_s"] >= end["latency_median_s"] > 0
    assert "latency" in proc.stdout and "person" in proc.stdout


# at once: Ctrl-C while the landmarkers are still being made (it used to fail an import there, or leave the log
# without its summary); after 3 s: while people are followed
@pytest.mark.parametrize("after_start_s", [0.0, 3.0])
def test_ctrl_c_ends_cleanly_with_the_lines_written(tmp_path, after_start_s):
    log = tmp_path / "events.jsonl"
    proc = subprocess.Popen([sys.executable, str(CLI), str(GROUP), "--live", "--json", str(log)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and '"start"' in log.read_text()):
        time.sleep(0.02)
    time.sleep(after_start_s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = _lines(log)
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "end" and lines[-1]["stopped_by"] == "Ctrl-C"
    assert "Traceback" not in err and "stopped by Ctrl-C" in out


@pytest.mark.parametrize("argv, expected", [
    (["7"], "camera 7: cannot be opened"),
    ([str(GROUP), "--live", "--out", "x.mp4"], "--out and --timeline-png are for files"),
    ([str(GROUP), "--max-seconds", "3"], "--max-seconds is for live runs"),
    ([str(GROUP), "--live", "--max-seconds", "0"], "--max-seconds must be positive"),
])
def test_live_mistakes_are_one_line(argv, expected):
    proc = subprocess.run([sys.executable, str(CLI), *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_live_windows_last_as_long_as_offline_ones():
    class P:  # a model trained on 15 fps clips of 30 frames: 2 s whatever the source rate
        clip_len, resample_fps = 30, 15.0

    assert live_windows(P, 30.0, None, None, 64) == (60, 2.0, 1.0)
    P.resample_fps = None  # a model trained on frames: that many frames of the source
    assert live_windows(P, 10.0, None, None, 64) == (30, 3.0, 1.5)
    P.window = 52  # its config's video_window: windows that long, its test pipeline samples 30 frames of them
    assert live_windows(P, 10.0, None, None, 64) == (52, 5.2, 2.6)
    assert live_windows(P, 10.0, 20, None, 64) == (20, 2.0, 1.0)  # the user's window still wins


def test_camera_frames_are_sized_like_decoded_files():
    """A camera or stream frame (BGR, any size) reaches the tracker as a file's frames do: at most 960 wide,
    aspect kept, RGB."""
    import cv2

    from extract.video import fit_frame, iter_frames

    hug = ROOT / "tests/assets/videos/ntu_hug_1920x1080.avi"
    cap = cv2.VideoCapture(str(hug))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    from_file = next(iter(iter_frames(hug, max_width=960)))
    live = fit_frame(bgr, 960)
    assert live.shape == from_file.shape == (540, 960, 3)
    assert np.abs(live.astype(int) - cv2.resize(bgr, (960, 540), interpolation=cv2.INTER_AREA)[..., ::-1]).max() == 0
