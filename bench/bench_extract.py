"""`make bench-extract`: decode-only, pose-only and full extraction frames/s on the real 1920x1080 NTU sample.

Full = decode + crop per Kinect body + BlazePose + mapping to NTU-25 + writing the sample's record, through
the same runner `make extract` uses. Pose-only runs the estimator on crops already decoded and cut, so
full / pose-only shows what the pipeline around the model costs. One process, measured side by side.
Full extraction is timed twice: on the one clip alone (a cold run: it pays the run's set-up, the pose
session's start-up and the decoder's first frames), and over COPIES copies of the clip in one run, as a
worker meets a dataset (sessions restarted, not rebuilt); the target ratio is about the latter.
The videos path (`make extract DATASET=videos`) is timed the same way on the shipped arm-wrestling clip
(340x256, 28 fps, 280 frames, 2+ people): the whole extraction of COPIES copies of it in one run (decode,
landmarker, tracker, mapping, records, merge), against the whole-frame multi-person landmarker alone on the
decoded frames, twice: on every frame (`videos_extract_over_pose`, the figure of issue #24), and on the frames
extraction feeds its landmarkers (`videos_extract_over_pose_same_frames`; `pipeline.datasets.videos.TRACKING`:
every frame today, so both floors are the same). All rates are video frames per second of wall time.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import finish  # noqa: E402

SAMPLE = ROOT / "tests/assets/ntu_sample"
NAME = "S001C001P001R001A001"
COPIES = 4
CLIP = ROOT / "tests/assets/videos/arm_wrestling_340x256.mp4"


def main() -> None:
    import numpy as np

    from extract.align import DECODE_WIDTH, body_box
    from extract.backends import build_estimator
    from pipeline.datasets.ntu.source import ExtractConfig, run
    from extract.video import iter_frames
    from pipeline.datasets.ntu.source import build_ntu_record

    video = SAMPLE / f"{NAME}_rgb.avi"
    rec = build_ntu_record(SAMPLE / f"{NAME}.skeleton")
    est = build_estimator("mediapipe")
    from extract.multiperson import detect_poses
    from pipeline.datasets.videos import TRACKING
    from extract.video import probe_video
    from pipeline.datasets.videos import VideoExtractConfig, run_videos

    clip_frames = list(iter_frames(CLIP, max_width=960))
    clip_fps = probe_video(CLIP)["fps"]
    every = TRACKING["every"]  # extraction's landmarker frame step
    rounds = {"decode": [], "pose": [], "extract": [], "extract_cold": [], "videos_pose": [],
              "videos_pose_same_frames": [], "videos_extract": []}
    for r in range(3):
        t = time.perf_counter()
        frames = list(iter_frames(video, max_width=DECODE_WIDTH))
        rounds["decode"].append(len(frames) / (time.perf_counter() - t))
        scale = DECODE_WIDTH / 1920
        crops = []
        for i, f in enumerate(frames):
            box = body_box(rec["kinect_color"][0, i] * scale, (f.shape[1], f.shape[0]))
            crops.append(np.ascontiguousarray(f[box[1]:box[3], box[0]:box[2]]))
        session = est.new_session()
        t = time.perf_counter()
        for c in crops:
            session.estimate(c)
        rounds["pose"].append(len(crops) / (time.perf_counter() - t))
        session.close()
        for copies, key in ((1, "extract_cold"), (COPIES, "extract")):
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp) / "root"
                (root / "nturgb+d_skeletons").mkdir(parents=True)
                (root / "nturgb+d_rgb").mkdir(parents=True)
                for c in range(copies):  # same clip under other setup numbers: S001, S002, ...
                    name = f"S{c + 1:03d}{NAME[4:]}"
                    shutil.copyfile(SAMPLE / f"{NAME}.skeleton", root / "nturgb+d_skeletons" / f"{name}.skeleton")
                    shutil.copyfile(SAMPLE / f"{NAME}_rgb.avi", root / "nturgb+d_rgb" / f"{name}_rgb.avi")
                t = time.perf_counter()
                run(ExtractConfig(dataset="ntu60", data_root=root, out=Path(tmp) / "out", pose="mediapipe"),
                    progress=False)
                rounds[key].append(copies * len(frames) / (time.perf_counter() - t))
        t = time.perf_counter()
        n = sum(1 for _ in detect_poses(iter(clip_frames), clip_fps, workers=1))
        rounds["videos_pose"].append(n / (time.perf_counter() - t))
        t = time.perf_counter()  # the same landmarker on the frames extraction feeds it (every `every`-th)
        sum(1 for _ in detect_poses(iter(clip_frames[::every]), clip_fps / every, workers=1))
        rounds["videos_pose_same_frames"].append(len(clip_frames) / (time.perf_counter() - t))
        with tempfile.TemporaryDirectory() as tmp:
            for c in range(COPIES):
                dst = Path(tmp) / "clips" / "arm wrestling" / f"copy{c}.mp4"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(CLIP, dst)
            t = time.perf_counter()
            run_videos(VideoExtractConfig(data_root=Path(tmp) / "clips", out=Path(tmp) / "out"), progress=False)
            rounds["videos_extract"].append(COPIES * len(clip_frames) / (time.perf_counter() - t))
        print(f"round {r + 1}: videos path: landmarker {rounds['videos_pose'][-1]:.1f} (on every frame), "
              f"{rounds['videos_pose_same_frames'][-1]:.1f} (on every {every}. frame, as extraction), full extraction "
              f"{rounds['videos_extract'][-1]:.1f} video frames/s", flush=True)
        print(f"round {r + 1}: decode {rounds['decode'][-1]:.1f}, pose {rounds['pose'][-1]:.1f}, "
              f"full extraction {rounds['extract'][-1]:.1f} ({COPIES} clips), "
              f"{rounds['extract_cold'][-1]:.1f} (one clip, cold) frames/s", flush=True)
    med = {k: float(np.median(v)) for k, v in rounds.items()}
    finish("extract", dict(decode_fps=round(med["decode"], 1), pose_fps=round(med["pose"], 1),
                           extract_fps=round(med["extract"], 1),
                           extract_over_pose=round(med["extract"] / med["pose"], 3),
                           extract_cold_fps=round(med["extract_cold"], 1),
                           extract_cold_over_pose=round(med["extract_cold"] / med["pose"], 3),
                           videos_pose_fps=round(med["videos_pose"], 1),
                           videos_extract_fps=round(med["videos_extract"], 1),
                           videos_extract_over_pose=round(med["videos_extract"] / med["videos_pose"], 3),
                           videos_pose_same_frames_fps=round(med["videos_pose_same_frames"], 1),
                           videos_extract_over_pose_same_frames=round(
                               med["videos_extract"] / med["videos_pose_same_frames"], 3),
                           videos_pose_every=every,
                           setting=f"{NAME} 1920x1080, 103 frames, 1 body, decode at {DECODE_WIDTH} px wide, "
                                   f"1 process; extract_fps over {COPIES} copies in one run"))


if __name__ == "__main__":
    main()
