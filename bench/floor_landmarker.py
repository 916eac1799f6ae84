#!/usr/bin/env python
"""The floor of video inference's pose stage: MediaPipe's whole-frame PoseLandmarker alone on one clip.

    python bench/floor_landmarker.py CLIP [--every N] [--pose-width W]

One VIDEO-mode landmarker with 2 poses (`MultiPersonPose(num_poses=2, video=True)`) on exactly the frames
`tools/infer_video.py` gives its tracker: decoded at most `MAX_POSE_WIDTH` (960) px wide on a thread of its
own (`extract.video.prefetch`, as `track_poses` does), every `auto_pose_every(fps)`-th frame (every 2nd at
20 fps or more). No tracking, no model, no windows: whatever infer_video costs beyond this process is
what following people and labelling them add (issue #24; `make bench-infer` times both as whole processes).

Prints one line of JSON: clip, frames (landmarker passes), decoded (frames decoded), every, startup_s
(process start -> landmarker ready), seconds (the landmarker loop: decoded frames in, poses out),
fps (frames / seconds: the machine's landmarker frames/s), total_s (in-process, start-up included).
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's start-up logs
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extract.multiperson import MultiPersonPose  # noqa: E402
from extract.video import prefetch  # noqa: E402
from pipeline.inference.video import MAX_POSE_WIDTH, auto_pose_every, open_video, read_frames  # noqa: E402


def floor(clip: Path, every: int | None = None, pose_width: int = MAX_POSE_WIDTH) -> dict:
    info = open_video(clip)
    every = int(every or auto_pose_every(info["fps"]))
    step = 1000.0 / info["fps"]
    frames = decoded = 0
    with prefetch(read_frames(clip, max_width=pose_width), depth=8) as it, \
            MultiPersonPose(num_poses=2, video=True) as landmarker:
        startup = time.perf_counter() - T0
        t0 = time.perf_counter()
        for i, frame in enumerate(it):
            decoded += 1
            if i % every:
                continue
            landmarker.detect(frame, int(round(i * step)))
            frames += 1
        seconds = time.perf_counter() - t0
    return dict(clip=str(clip), frames=frames, decoded=decoded, every=every, startup_s=round(startup, 3),
                seconds=round(seconds, 3), fps=round(frames / max(seconds, 1e-9), 2),
                total_s=round(time.perf_counter() - T0, 3))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("clip", type=Path)
    p.add_argument("--every", type=int, default=None, help="landmarker on every n-th frame (default: as infer_video)")
    p.add_argument("--pose-width", type=int, default=MAX_POSE_WIDTH, help="decode at most this wide (default: 960)")
    args = p.parse_args(argv)
    print(json.dumps(floor(args.clip, args.every, args.pose_width)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
