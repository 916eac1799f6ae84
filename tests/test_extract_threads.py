"""The videos path's tracker gets the cores shared out among the extraction processes (issue #24): one process
on 2 cores tracking with a single landmarker thread left a core idle (0.66x the landmarker alone, 0.80x with 2)."""
from __future__ import annotations

from pathlib import Path

import pytest

import extract.crop_tracking as ct
import pipeline.datasets.videos as vd

CLIP = Path(__file__).parent / "assets/videos/arm_wrestling_340x256.mp4"


@pytest.mark.parametrize("cores, processes, threads", [(2, 1, 2), (2, 2, 1), (1, 1, 1), (16, 4, 2), (4, 8, 1), (None, 1, 1)])
def test_tracker_threads_share_the_cores(monkeypatch, cores, processes, threads):
    monkeypatch.setattr(vd.os, "cpu_count", lambda: cores)
    assert vd.tracker_threads(processes) == threads


def test_make_record_hands_the_threads_to_the_tracker(monkeypatch, tmp_path):
    seen = {}

    def fake_track(frames, fps, workers=None, **kw):
        seen["workers"] = workers
        raise RuntimeError("stop here")

    monkeypatch.setattr(ct, "track_poses", fake_track)
    monkeypatch.setattr(vd.os, "cpu_count", lambda: 2)
    for processes, threads in ((1, 2), (2, 1)):
        source = vd.VideoSource(vd.VideoExtractConfig(data_root=tmp_path, out=tmp_path / "out", workers=processes))
        source.names = ["arm wrestling"]
        clip = vd.Clip(CLIP, "arm", "arm wrestling")
        with pytest.raises(RuntimeError, match="stop here"):
            source.make_record(vd.Sample("arm", "k", clip))
        assert seen.pop("workers") == threads
