#!/usr/bin/env python
"""`make bench-infer`: is `tools/infer_video.py` faster than real time on this CPU?

The whole command is timed from outside (a fresh process: imports, landmarker and model start-up
included) on the 10 s arm-wrestling clip, where it must finish within the clip's duration (rtf < 1), and
on the 1920x1080 NTU clip, where it must process >= 25 frames/s after start-up (frames / (total - start-up),
from the run's own timings). The NTU clip also runs with one landmarker worker, side by side, for the
ratio that the parallel landmarkers buy. Uses the default checkpoint when it exists, else a randomly
initialised one of the same shape (speed does not depend on the weights).
Last line: one line of JSON, also written to bench/results/infer.json.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import finish  # noqa: E402

ARM = ROOT / "tests/data/videos/arm_wrestling_340x256.mp4"
NTU = ROOT / "tests/data/ntu_sample/S001C001P001R001A001_rgb.avi"


def _checkpoint(tmp: Path) -> tuple[Path, str]:
    from pipeline.inference import DEFAULT_CHECKPOINT

    if DEFAULT_CHECKPOINT.is_file():
        return DEFAULT_CHECKPOINT, "default"
    import torch
    from mmengine.config import Config

    from models import build_model
    from pipeline.checkpoint import save_checkpoint
    from pipeline.classes import class_names

    cfg = Config.fromfile(str(ROOT / "configs/pggcn_nwucla_default.py")).to_dict()
    torch.manual_seed(0)
    path = tmp / "random_default_shape.pth"
    save_checkpoint(path, build_model(cfg["model"]).state_dict(), meta=dict(class_names=class_names("nwucla"), config=cfg))
    return path, "random weights, default config"


def _run(video: Path, checkpoint: Path, out_json: Path, *extra: str) -> tuple[float, dict]:
    cmd = [sys.executable, str(ROOT / "tools/infer_video.py"), str(video), "--checkpoint", str(checkpoint),
           "--json", str(out_json), "--quiet", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"bench-infer: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall, json.loads(out_json.read_text())


def main() -> None:
    load_before = os.getloadavg()[0]  # other work on a 2-core machine halves these figures: record it
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt, which = _checkpoint(tmp)
        print(f"checkpoint: {ckpt} ({which})", flush=True)
        _run(ARM, ckpt, tmp / "warm.json")  # warm the file cache and the landmarker bundle cache
        arm_wall, arm = _run(ARM, ckpt, tmp / "arm.json")
        ntu_wall, ntu = _run(NTU, ckpt, tmp / "ntu.json")
        runs = [("arm wrestling 340x256", arm_wall, arm), ("NTU 1920x1080 (default)", ntu_wall, ntu)]
        for name, extra in (("NTU, --pose-every 1", ("--pose-every", "1")),
                            ("NTU, --pose-every 1 --workers 1", ("--pose-every", "1", "--workers", "1"))):
            wall, out = _run(NTU, ckpt, tmp / "ntu_variant.json", *extra)
            runs.append((name, wall, out))

    def after_startup(out: dict) -> float:
        t = out["timings"]
        return out["frames"] / max(t["total_s"] - t["startup_s"], 1e-9)

    clip_seconds = arm["frames"] / arm["fps"]
    rtf = arm_wall / clip_seconds
    fps = [after_startup(out) for _, _, out in runs]
    print(f"{'run':34s} {'frames':>6s} {'clip s':>7s} {'wall s':>7s} {'start s':>7s} {'fps*':>6s} {'pose fps':>8s}")
    for (name, wall, out), f in zip(runs, fps):
        t = out["timings"]
        print(f"{name:34s} {out['frames']:6d} {out['frames'] / out['fps']:7.2f} {wall:7.2f} {t['startup_s']:7.2f} "
              f"{f:6.1f} {t['pose_fps']:8.1f}")
    print("fps* = frames / (total - start-up), from the run's own timings; start-up ends when the landmarkers are ready")
    print(f"arm wrestling: wall / clip duration = {rtf:.2f} (target < 1)")
    print(f"NTU: {fps[1]:.1f} frames/s after start-up = {fps[1] / 25:.2f} x the 25 frames/s target")
    print(f"1-min load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (2 cores; > 1 means "
          f"other work shared the CPU)")
    print(f"ratios: pose every 2nd frame / every frame = {fps[1] / fps[2]:.2f}; "
          f"2 landmarker workers / 1 = {fps[2] / fps[3]:.2f}")
    finish("infer", dict(
        clip_seconds=round(clip_seconds, 3), wall_seconds=round(arm_wall, 3), rtf=round(rtf, 3),
        fps_after_startup=round(fps[1], 2), fps_after_startup_every_frame=round(fps[2], 2),
        fps_after_startup_every_frame_1worker=round(fps[3], 2), pose_every_speedup=round(fps[1] / fps[2], 3),
        workers_speedup=round(fps[2] / fps[3], 3), ntu_wall_seconds=round(ntu_wall, 3),
        startup_seconds=round(arm["timings"]["startup_s"], 3), checkpoint=which,
        load_avg_before=round(load_before, 2), load_avg_after=round(os.getloadavg()[0], 2),
    ))


if __name__ == "__main__":
    main()
