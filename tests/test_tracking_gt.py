"""People who touch or stand side by side stay followed, each under one id, against ground truth counted by eye.

tests/assets/videos/tracking_gt.json holds the ground truth (who is visible in which frames, the band their
body stays in). The clips: a real NTU RGB+D hug (two people touching for the second half of the clip, 1080p)
and three people exercising side by side. Target (issue #17): each person followed in >= 90 % of the frames
where they are visible, with at most one identity switch.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from extract.track_metrics import follow_report
from pipeline.inference.video import open_video, track_people

VIDEOS = Path(__file__).parent / "assets" / "videos"
GT = json.loads((VIDEOS / "tracking_gt.json").read_text())


def _track(name: str):
    """The tracks inference itself would produce (same decode width, same landmarker frame step)."""
    return track_people(VIDEOS / name, open_video(VIDEOS / name))


@pytest.mark.parametrize("name", ["ntu_hug_1920x1080.avi", "group_exercise_3p_384x288.avi"])
def test_each_person_is_followed_under_one_id(name):
    report = follow_report(_track(name).tracks, GT[name]["persons"])
    for person in report:
        assert person["coverage"] >= 0.9, (name, person)
        assert person["switches"] <= 1, (name, person)
    # two people are never one id: the id that follows each person is not the one that follows another
    main = [p["main_id"] for p in report]
    assert None not in main and len(set(main)) == len(main), (name, report)


def test_hugging_people_keep_their_own_ids_to_the_end():
    """The second half of the hug clip is the hard part: the full-frame landmarker lost the second person there
    (43 of 72 frames); each must still be there in the last 10 frames, under the id they started with."""
    tracks = _track("ntu_hug_1920x1080.avi").tracks
    report = follow_report(tracks, GT["ntu_hug_1920x1080.avi"]["persons"])
    assert [len(p["ids"]) for p in report] == [1, 1]
    ends = follow_report(tracks, [dict(p, frames=[62, 72]) for p in GT["ntu_hug_1920x1080.avi"]["persons"]])
    assert [p["coverage"] for p in ends] == [1.0, 1.0]
    assert [p["ids"] for p in ends] == [p["ids"] for p in report]


def test_following_two_people_costs_little_more_than_their_two_followers():
    """Issue #24: per processed frame of the hug clip, one landmark pass per person plus discovery, which looks
    less often once both are followed; a false pose found once no longer costs a pass per frame for max_lost
    frames (before: 2.81 follower passes and 3.81 in all; now 2.08 and 2.81)."""
    calls = _track("ntu_hug_1920x1080.avi").calls
    n = calls["frames"]
    assert n == 36
    assert calls["follow"] / n < 2.3
    assert (calls["follow"] + calls["discover"] + calls["resolve"]) / n < 3.2
