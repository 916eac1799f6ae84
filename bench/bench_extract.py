"""`make bench-extract`: decode-only, pose-only and full extraction frames/s on the real 1920x1080 NTU sample.

Full = decode + crop per Kinect body + BlazePose + mapping to NTU-25 + writing the sample's record, through
the same runner `make extract` uses. Pose-only runs the estimator on crops already decoded and cut, so
full / pose-only shows what the pipeline around the model costs. One process, measured side by side.
Full extraction is timed twice: on the one clip alone (a cold run: it pays the run's set-up, the pose
session's start-up and the decoder's first frames), and over COPIES copies of the clip in one run, as a
worker meets a dataset (sessions restarted, not rebuilt); the target ratio is about the latter.
The videos path (`make extract DATASET=videos`) is timed the same way on two shipped real clips: the
arm-wrestling close-up (340x256, 28 fps, 280 frames, 2+ people; the figure of issue #24) and one person falling
(GMDCSA24 subject 3, 640x480, 15 fps, 86 frames): the whole extraction of COPIES copies of a clip in one run
(decode, landmarker, tracker, mapping, records, merge), in one process (`videos_extract_over_pose`,
`videos_one_person_extract_over_pose`) and as `make extract` runs it, with the Makefile's default WORKERS
processes (`..._make_over_pose`: two clips tracked at once fill the cores where one clip's tracker waits on its
slowest pass), against the whole-frame multi-person landmarker alone (one, on one thread) on the clip's decoded
frames (`pipeline.datasets.videos.TRACKING`: extraction tracks every frame; `..._same_frames` keeps the floor on
the frames extraction feeds its landmarkers, should that change). The close-up is the hard case: the floor finds
a body in few of its frames there and mostly runs its detector alone, while the tracker follows both people.
All rates are video frames per second of wall time.
"""
from __future__ import annotations

import re
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
ONE_PERSON = ROOT / "tests/assets/gmdcsa24/subject3_fall_19.mp4"


def make_workers() -> int:
    """The Makefile's default WORKERS: the processes `make extract` runs when the user names none."""
    found = re.search(r"^WORKERS\s*\?=\s*(\d+)\s*$", (ROOT / "Makefile").read_text(), re.M)
    if found is None:
        raise ValueError(f"{ROOT / 'Makefile'}: no default WORKERS (WORKERS ?= N)")
    return int(found[1])


class VideoBench:
    """The videos path on one clip, round after round: the floor (one whole-frame landmarker on every frame, and
    on the frames extraction tracks) and the whole extraction of COPIES copies, in 1 and in WORKERS processes."""

    def __init__(self, clip: Path, label: str):
        from extract.video import iter_frames, probe_video
        from pipeline.datasets.videos import TRACKING

        self.clip, self.label, self.name = clip, label, clip.stem
        self.frames = list(iter_frames(clip, max_width=TRACKING["max_width"]))
        self.fps = probe_video(clip)["fps"]
        self.every = TRACKING["every"]  # extraction's landmarker frame step
        self.workers = make_workers()
        self.rates: dict[str, list[float]] = {"pose": [], "pose_same_frames": [], "extract": [], "extract_make": []}

    def round(self) -> None:
        from extract.multiperson import detect_poses
        from pipeline.datasets.videos import VideoExtractConfig, run_videos

        t = time.perf_counter()
        n = sum(1 for _ in detect_poses(iter(self.frames), self.fps, workers=1))
        self.rates["pose"].append(n / (time.perf_counter() - t))
        t = time.perf_counter()  # the same landmarker on the frames extraction feeds it (every `every`-th)
        sum(1 for _ in detect_poses(iter(self.frames[::self.every]), self.fps / self.every, workers=1))
        self.rates["pose_same_frames"].append(len(self.frames) / (time.perf_counter() - t))
        for processes, key in ((1, "extract"), (self.workers, "extract_make")):
            with tempfile.TemporaryDirectory() as tmp:
                for c in range(COPIES):
                    dst = Path(tmp) / "clips" / self.label / f"copy{c}{self.clip.suffix}"
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(self.clip, dst)
                t = time.perf_counter()
                run_videos(VideoExtractConfig(data_root=Path(tmp) / "clips", out=Path(tmp) / "out",
                                              workers=processes), progress=False)
                self.rates[key].append(COPIES * len(self.frames) / (time.perf_counter() - t))

    def line(self) -> str:
        r = {k: v[-1] for k, v in self.rates.items()}
        return (f"landmarker {r['pose']:.1f} (every frame), {r['pose_same_frames']:.1f} (every {self.every}. frame, "
                f"as extraction); full extraction {r['extract']:.1f} (1 process, {r['extract'] / r['pose']:.2f}x), "
                f"{r['extract_make']:.1f} (WORKERS={self.workers}, as make extract, "
                f"{r['extract_make'] / r['pose']:.2f}x) video frames/s")

    def figures(self, prefix: str) -> dict:
        import numpy as np

        med = {k: float(np.median(v)) for k, v in self.rates.items()}
        return {f"videos_{prefix}pose_fps": round(med["pose"], 1),
                f"videos_{prefix}extract_fps": round(med["extract"], 1),
                f"videos_{prefix}extract_over_pose": round(med["extract"] / med["pose"], 3),
                f"videos_{prefix}pose_same_frames_fps": round(med["pose_same_frames"], 1),
                f"videos_{prefix}extract_over_pose_same_frames": round(med["extract"] / med["pose_same_frames"], 3),
                f"videos_{prefix}extract_make_fps": round(med["extract_make"], 1),
                f"videos_{prefix}extract_make_over_pose": round(med["extract_make"] / med["pose"], 3),
                f"videos_{prefix}pose_every": self.every}


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
    videos = {"": VideoBench(CLIP, "arm wrestling"), "one_person_": VideoBench(ONE_PERSON, "fall")}
    rounds = {"decode": [], "pose": [], "extract": [], "extract_cold": []}
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
        for prefix, bench in videos.items():
            bench.round()
            print(f"round {r + 1}: videos path, {bench.name}: {bench.line()}", flush=True)
        print(f"round {r + 1}: decode {rounds['decode'][-1]:.1f}, pose {rounds['pose'][-1]:.1f}, "
              f"full extraction {rounds['extract'][-1]:.1f} ({COPIES} clips), "
              f"{rounds['extract_cold'][-1]:.1f} (one clip, cold) frames/s", flush=True)
    med = {k: float(np.median(v)) for k, v in rounds.items()}
    finish("extract", dict(decode_fps=round(med["decode"], 1), pose_fps=round(med["pose"], 1),
                           extract_fps=round(med["extract"], 1),
                           extract_over_pose=round(med["extract"] / med["pose"], 3),
                           extract_cold_fps=round(med["extract_cold"], 1),
                           extract_cold_over_pose=round(med["extract_cold"] / med["pose"], 3),
                           **{k: v for prefix, bench in videos.items() for k, v in bench.figures(prefix).items()},
                           videos_make_workers=videos[""].workers,
                           setting=f"{NAME} 1920x1080, 103 frames, 1 body, decode at {DECODE_WIDTH} px wide, "
                                   f"1 process; extract_fps over {COPIES} copies in one run; videos path: "
                                   f"{CLIP.name} and {ONE_PERSON.name}, {COPIES} copies each in one run, 1 process "
                                   f"and WORKERS={videos[''].workers} (the Makefile's default), against one "
                                   f"whole-frame landmarker on one thread"))


if __name__ == "__main__":
    main()
