"""Who does what when: window probabilities -> smoothed per-person segments in seconds, and the picture."""
from __future__ import annotations

import numpy as np

from pipeline.inference.timeline import UNKNOWN, draw_timeline, frame_probs, segments, segments_table

NAMES = ["sit", "fall"]


def _windows(frames: int, size: int, stride: int) -> list[dict]:
    return [dict(start=s, end=min(s + size, frames)) for s in range(0, frames - size + 1, stride)]


def test_overlapping_windows_average_per_frame():
    windows = [dict(start=0, end=4), dict(start=2, end=6)]
    p = frame_probs(np.array([[1.0, 0.0], [0.0, 1.0]]), windows, 8)
    np.testing.assert_allclose(p[:2], [[1, 0]] * 2)
    np.testing.assert_allclose(p[2:4], [[0.5, 0.5]] * 2)
    np.testing.assert_allclose(p[4:6], [[0, 1]] * 2)
    assert np.isnan(p[6:]).all()  # no window: the person is not in view there


def test_sitting_then_falling_becomes_two_segments_in_seconds():
    fps, frames = 10.0, 60  # 6 s: sitting for 3 s, then falling
    probs = np.zeros((frames, 2))
    probs[:30] = [0.9, 0.1]
    probs[30:] = [0.1, 0.9]
    probs[12] = [0.1, 0.9]  # one flickering frame inside the sitting part
    segs = segments(probs, fps, NAMES, person=7, smooth_s=0.5, min_len_s=0.5)
    assert [(s["label"], s["person"]) for s in segs] == [("sit", 7), ("fall", 7)]
    assert segs[0]["start_s"] == 0.0 and abs(segs[0]["end_s"] - 3.0) <= 0.3 and segs[1]["end_s"] == 6.0


def test_low_scores_are_unknown_and_absent_frames_no_segment():
    probs = np.full((40, 2), np.nan)
    probs[:20] = [0.55, 0.45]  # below the threshold after no smoothing? 0.55 >= 0.4: sit
    probs[20:30] = [0.35, 0.35]  # nothing convincing
    segs = segments(probs, 10.0, NAMES, person=0, smooth_s=0.0, threshold=0.4, min_len_s=0.2)
    assert [s["label"] for s in segs] == ["sit", UNKNOWN]
    assert segs[-1]["end_s"] == 3.0  # frames 30-39 have no window


def test_table_and_picture(tmp_path):
    segs = [dict(person=0, start_s=0.0, end_s=3.0, label="sit", score=0.9),
            dict(person=0, start_s=3.0, end_s=6.0, label="fall", score=0.8),
            dict(person=1, start_s=1.0, end_s=2.0, label=UNKNOWN, score=0.3)]
    text = segments_table(segs)
    assert "fall" in text and text.count("\n") == 3
    draw_timeline(segs, 6.0, tmp_path / "t.png", title="clip")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_persons_current_label_per_frame_for_the_overlay():
    from pipeline.inference.video import person_frame_labels
    from pipeline.inference.result import InferenceResult

    result = InferenceResult(video="v", frames=40, fps=10.0, width=1, height=1, class_names=NAMES, persons=[],
                             probs=None, windows=[], window_probs=np.zeros((0, 2)))
    result.segments = [dict(person=3, start_s=0.0, end_s=2.0, label="sit", score=0.9),
                       dict(person=3, start_s=2.0, end_s=4.0, label="fall", score=0.8)]
    labels = person_frame_labels(result)
    assert list(labels) == [3] and labels[3][0] == "sit 0.90" and labels[3][19] == "sit 0.90"
    assert labels[3][20] == "fall 0.80" and labels[3][39] == "fall 0.80"
