#!/usr/bin/env python
"""`make bench-infer`: is `tools/infer_video.py` faster than real time on this CPU, and does it follow people?

The whole command is timed from outside (a fresh process: imports, landmarker and model start-up
included) on the 10 s arm-wrestling clip, where it must finish within the clip's duration (rtf < 1), and
on the 1920x1080 NTU clip, where it must process >= 25 frames/s after start-up (frames / (total - start-up),
from the run's own timings). The NTU clip also runs with one landmarker worker, side by side, for the
ratio that the parallel landmarkers buy. Uses the default checkpoint when it exists, else a randomly
initialised one of the same shape (speed does not depend on the weights).

Also measured here (issue #17):
- following people: coverage and identity switches per person against the by-eye ground truth of
  tests/assets/videos/tracking_gt.json (the real NTU hug, the 3-person exercise clip, the arm-wrestling close-up);
- live: a 60 s, 30 fps, 1280x720 input (the hug clip played forwards and backwards) run with `--live`, with
  the torch model and with the exported ONNX model: label latency (arrival of a window's last frame -> label
  printed), dropped-frame ratio, and the frame lag in the first and the last 10 s (a backlog would grow).

And the cost of following people (issue #24):
- the tracker's cost model: landmark passes per processed frame (followers, discovery, conflict resolution;
  `VideoPoses.calls`) on each clip, with inference's own settings;
- the floor: `bench/floor_landmarker.py`, MediaPipe's whole-frame landmarker alone (VIDEO mode, 2 poses) on
  the frames infer_video feeds its tracker, timed as a whole process side by side with
  `tools/infer_video.py CLIP --quiet --json X` on the hug (2 people, 1080p), arm-wrestling and one-person
  1080p NTU clips: ratio = infer_video wall / floor wall (cpu_ratio: the same in CPU seconds), the
  machine's landmarker frames/s, and what ran the model (`model_runtime`: infer_video's default, the shipped
  checkpoint's ONNX twin on onnxruntime; see pipeline/inference/runtime.py).
  `--floor-only` runs just this part and merges its keys into the existing bench/results/infer.json.
Last line: one line of JSON, also written to bench/results/infer.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's start-up logs, in this process too
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import finish  # noqa: E402

ARM = ROOT / "tests/assets/videos/arm_wrestling_340x256.mp4"
HUG = ROOT / "tests/assets/videos/ntu_hug_1920x1080.avi"
GT = ROOT / "tests/assets/videos/tracking_gt.json"
LIVE_SECONDS, LIVE_FPS, LIVE_SIZE = 60, 30, (1280, 720)
GMDCSA = Path(os.environ.get("GMDCSA_ROOT", ROOT.parent / "shared/data/gmdcsa24"))
NTU = ROOT / "tests/assets/ntu_sample/S001C001P001R001A001_rgb.avi"
FLOOR = ROOT / "bench/floor_landmarker.py"
FLOOR_CLIPS = {"hug 1920x1080, 2 people": HUG, "arm wrestling 340x256": ARM, "NTU 1920x1080, 1 person": NTU}
FLOOR_REPEATS = 5  # whole-process timings on a shared 2-core machine: the fastest of this many, interleaved


def _checkpoint(tmp: Path) -> tuple[Path, str]:
    from pipeline.inference.video import DEFAULT_CHECKPOINT

    if DEFAULT_CHECKPOINT.is_file():
        return DEFAULT_CHECKPOINT, "default"
    import torch
    from mmengine.config import Config

    from models import build_model
    from pipeline.checkpoint import save_checkpoint
    from pipeline.data.classes import class_names

    cfg = Config.fromfile(str(ROOT / "configs/pggcn_nwucla_default.py")).to_dict()
    torch.manual_seed(0)
    path = tmp / "random_default_shape.pth"
    save_checkpoint(path, build_model(cfg["model"]).state_dict(), meta=dict(class_names=class_names("nwucla"), config=cfg))
    return path, "random weights, default config"


def _process(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a command to its end -> (result, wall seconds, CPU seconds of it and the children it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"bench-infer: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return proc, wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _run_timed(video: Path, checkpoint: Path, out_json: Path, *extra: str) -> tuple[float, float, dict]:
    cmd = [sys.executable, str(ROOT / "tools/infer_video.py"), str(video), "--checkpoint", str(checkpoint),
           "--json", str(out_json), "--quiet", *extra]
    _, wall, cpu = _process(cmd)
    return wall, cpu, json.loads(out_json.read_text())


def _run(video: Path, checkpoint: Path, out_json: Path, *extra: str) -> tuple[float, dict]:
    wall, _, out = _run_timed(video, checkpoint, out_json, *extra)
    return wall, out


def tracking_figures(calls: dict | None = None) -> dict:
    """Per clip and person: share of visible frames followed, identity switches (inference's own settings).
    `calls`, when given, gets each clip's landmark passes per processed frame (`calls_per_frame`)."""
    from extract.track_metrics import follow_report
    from pipeline.inference.video import open_video, track_people

    out = {}
    for name, gt in json.loads(GT.read_text()).items():
        if name.startswith("_"):
            continue
        clip = GT.parent / name
        poses = track_people(clip, open_video(clip))
        out[name] = [dict(name=r["name"], coverage=round(r["coverage"], 3), switches=r["switches"])
                     for r in follow_report(poses.tracks, gt["persons"])]
        if calls is not None:
            calls[name] = calls_per_frame(poses.calls)
    return out


def calls_per_frame(calls: dict) -> dict:
    """The tracker's counts {frames, follow, discover, resolve} -> landmark passes per processed frame."""
    n = max(int(calls.get("frames", 0)), 1)
    per = {k: round(calls.get(k, 0) / n, 3) for k in ("follow", "discover", "resolve")}
    return dict(total=round(sum(calls.get(k, 0) for k in per) / n, 3), **per, frames=int(calls.get("frames", 0)))


def _floor_run(video: Path) -> tuple[float, float, dict]:
    proc, wall, cpu = _process([sys.executable, str(FLOOR), str(video)])
    return wall, cpu, json.loads(proc.stdout.strip().splitlines()[-1])


def floor_figures(checkpoint: Path, tmp: Path, repeats: int = FLOOR_REPEATS) -> dict:
    """Per clip: infer_video's and the floor's whole-process wall times over `repeats` interleaved runs, and
    their ratio: `ratio` of the fastest run of each side (other tenants of a shared machine only ever add
    time, so the minimum is what an idle machine gives; the median's ratio, `ratio_median`, moved by 0.2-0.3
    between runs on this 2-core machine), the same for CPU seconds (median; the process's own:
    infer_video does not wait for its model's child process, so that is not counted), the tracker's landmark
    passes per processed frame, and the floor's landmarker frames/s (its fastest run's)."""
    from pipeline.inference.video import open_video, track_people

    out = {}
    _floor_run(HUG)  # warm the file cache and the landmarker bundle cache
    for name, clip in FLOOR_CLIPS.items():
        infer_s, floor_s, infer_cpu, floor_cpu, fps = [], [], [], [], []
        for _ in range(repeats):
            wall, cpu, result = _run_timed(clip, checkpoint, tmp / "floor_infer.json")
            infer_s.append(wall)
            infer_cpu.append(cpu)
            wall, cpu, f = _floor_run(clip)
            floor_s.append(wall)
            floor_cpu.append(cpu)
            fps.append(f["fps"])
        calls = track_people(clip, open_video(clip)).calls
        i, f = min(infer_s), min(floor_s)
        im, fm = statistics.median(infer_s), statistics.median(floor_s)
        ic, fc = statistics.median(infer_cpu), statistics.median(floor_cpu)
        out[name] = dict(clip=str(clip.relative_to(ROOT)), infer_s=round(i, 3), floor_s=round(f, 3),
                         ratio=round(i / f, 3), infer_s_median=round(im, 3), floor_s_median=round(fm, 3),
                         ratio_median=round(im / fm, 3), infer_cpu_s=round(ic, 3), floor_cpu_s=round(fc, 3),
                         cpu_ratio=round(ic / fc, 3), calls_per_frame=calls_per_frame(calls),
                         landmarker_fps=round(max(fps), 2), frames=calls.get("frames", 0),
                         model_runtime=result["model"]["runtime"])
        c = out[name]["calls_per_frame"]
        print(f"  {name:26s} infer_video {i:5.2f} s  floor {f:5.2f} s  ratio {i / f:4.2f} (median {im / fm:4.2f}) "
              f"(CPU s {ic:5.2f} / {fc:5.2f} = {ic / fc:4.2f})  landmark passes per processed frame "
              f"{c['total']:.2f} (follow {c['follow']:.2f}, discover {c['discover']:.2f}, resolve {c['resolve']:.2f})"
              f"  floor landmarker {out[name]['landmarker_fps']:.1f} frames/s; model on {result['model']['runtime']}",
              flush=True)
    return out


def floor_summary(floor: dict) -> dict:
    """The machine's landmarker frames/s: the floor's median over the clips."""
    return dict(landmarker_fps=round(statistics.median(f["landmarker_fps"] for f in floor.values()), 2),
                floor_repeats=FLOOR_REPEATS)


def floor_only(checkpoint: Path | None = None) -> None:
    """Just the floor comparison; its keys are merged into the existing bench/results/infer.json (with
    `checkpoint`, another model than the default: printed only, the results file is left as it is)."""
    from bench.common import RESULTS

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt, which = (checkpoint.resolve(), "given") if checkpoint else _checkpoint(tmp)
        print(f"checkpoint: {ckpt} ({which}); infer_video against the floor (whole processes, "
              f"fastest of {FLOOR_REPEATS} interleaved runs each):", flush=True)
        floor = floor_figures(ckpt, tmp)
    path = RESULTS / "infer.json"
    figures = json.loads(path.read_text()) if path.is_file() else {}
    figures.update(floor=floor, **floor_summary(floor), floor_date=time.strftime("%Y-%m-%d"),
                   floor_load_avg_before=round(load_before, 2), floor_load_avg_after=round(os.getloadavg()[0], 2))
    print(f"landmarker alone (the floor): {figures['landmarker_fps']:.1f} frames/s on this machine")
    if checkpoint:
        print(json.dumps(dict(checkpoint=str(checkpoint), floor=floor, **floor_summary(floor))))
        return
    finish("infer", figures)


def single_person_coverage(root: Path) -> dict | None:
    """GMDCSA24's clips (one person each, falls included; no per-frame ground truth): the share of frames the
    main track covers and the tracks per clip, for the crop tracker and, side by side, the old whole-frame
    landmarker with its box tracker. None when the dataset is not there."""
    import numpy as np

    from extract.multiperson import assemble_tracks, detect_poses
    from extract.tracker import PoseTracker
    from extract.video import iter_frames
    from pipeline.inference.video import MAX_POSE_WIDTH, open_video, track_people
    from extract.crop_tracking import auto_pose_every

    clips = sorted(root.glob("Subject */*/*.mp4"))
    if not clips:
        return None
    rows = {"crop tracker": [], "whole-frame landmarker": []}
    for clip in clips:
        info = open_video(clip)
        every = auto_pose_every(info["fps"])
        new = track_people(clip, info)
        tracker = PoseTracker(max_lost=47)
        per = [(tracker.update(pf.keypoints, pf.scores), pf)
               for pf in detect_poses(iter_frames(clip, max_width=MAX_POSE_WIDTH), info["fps"], every=every)]
        old = assemble_tracks(per, (info["height"], info["width"]), every=every, frames=new.frames)
        for name, poses in (("crop tracker", new), ("whole-frame landmarker", old)):
            main = max((t.frames_present for t in poses.tracks), default=0)
            rows[name].append((main / max(poses.frames, 1), len(poses.tracks)))
    return {name: dict(clips=len(r), main_track_coverage=round(float(np.mean([a for a, _ in r])), 3),
                       tracks_per_clip=round(float(np.mean([b for _, b in r])), 2)) for name, r in rows.items()}


def live_input(path: Path) -> Path:
    """LIVE_SECONDS of the hug clip at LIVE_FPS, forwards then backwards (no jump at the seams), LIVE_SIZE."""
    import cv2

    from extract.video import iter_frames

    frames = [cv2.resize(f, LIVE_SIZE, interpolation=cv2.INTER_AREA) for f in iter_frames(HUG, rgb=False)]
    loop = frames + frames[-2:0:-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), LIVE_FPS, LIVE_SIZE)
    for i in range(LIVE_SECONDS * LIVE_FPS):
        writer.write(loop[i % len(loop)])
    writer.release()
    return path


def live_run(video: Path, out_json: Path, *extra: str) -> dict:
    cmd = [sys.executable, str(ROOT / "tools/infer_video.py"), str(video), "--live", "--json", str(out_json), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench-infer: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(out_json.read_text().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="make bench-infer")
    p.add_argument("--floor-only", action="store_true",
                   help="only infer_video against the floor (whole-frame landmarker alone) and the landmarker "
                        "passes per frame; merged into the existing bench/results/infer.json")
    p.add_argument("--checkpoint", type=Path, help="with --floor-only: time this model instead of the default "
                   "(printed; bench/results/infer.json is left as it is)")
    a = p.parse_args(argv)
    if a.floor_only:
        return floor_only(a.checkpoint)
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
        hug_wall, hug = _run(HUG, ckpt, tmp / "hug.json")
        runs.append(("NTU hug 1920x1080, 2 people", hug_wall, hug))

        print("following people (tests/assets/videos/tracking_gt.json):", flush=True)
        tracking_calls: dict = {}
        tracking = tracking_figures(tracking_calls)
        for clip, persons in tracking.items():
            for p in persons:
                print(f"  {clip:32s} {p['name']:22s} followed {p['coverage']:6.1%}  switches {p['switches']}")
            c = tracking_calls[clip]
            print(f"  {clip:32s} landmark passes per processed frame {c['total']:.2f} (follow {c['follow']:.2f}, "
                  f"discover {c['discover']:.2f}, resolve {c['resolve']:.2f})")
        print(f"infer_video against the floor (whole-frame landmarker alone; whole processes, fastest of "
              f"{FLOOR_REPEATS}):", flush=True)
        floor = floor_figures(ckpt, tmp)

        single = single_person_coverage(GMDCSA)
        if single is None:
            print(f"(no GMDCSA24 at {GMDCSA}: single-person coverage skipped)")
        else:
            for name, f in single.items():
                print(f"  GMDCSA24, {f['clips']} one-person clips, {name:22s}: main track covers "
                      f"{f['main_track_coverage']:.1%} of the frames, {f['tracks_per_clip']:.2f} tracks per clip")
        print(f"live: {LIVE_SECONDS} s at {LIVE_FPS} fps, {LIVE_SIZE[0]}x{LIVE_SIZE[1]} (torch, then ONNX) ...", flush=True)
        video = live_input(tmp / "live.mp4")
        from pipeline.inference.onnx_export import export_onnx

        onnx_path = tmp / "model.onnx"
        export_onnx(ckpt, onnx_path)
        live = {"torch": live_run(video, tmp / "live_torch.jsonl", "--backend", "torch", "--checkpoint", str(ckpt)),
                "onnx": live_run(video, tmp / "live_onnx.jsonl", "--backend", "onnx", "--checkpoint", str(onnx_path))}

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
    print(f"hug (2 people, 1080p): {fps[4]:.1f} frames/s after start-up = {fps[4] / 25:.2f} x the 25 frames/s target")
    print(f"landmarker alone (the floor): {floor_summary(floor)['landmarker_fps']:.1f} frames/s; infer_video / floor: "
          + ", ".join(f"{name} {f['ratio']:.2f}" for name, f in floor.items()))
    for backend, s in live.items():
        target = s["window_s"] / 2 + 0.5
        print(f"live ({backend}): latency median {s['latency_median_s']} s, p90 {s['latency_p90_s']} s "
              f"(target <= {target:.2f} s: half the {s['window_s']:.2f} s window + 0.5 s); "
              f"{s['dropped_ratio']:.1%} of {s['frames_captured']} frames dropped; "
              f"lag first 10 s {s['lag_first_10s_s']} s, last 10 s {s['lag_last_10s_s']} s")
    live_figures = {f"live_{b}_{k}": s[k] for b, s in live.items()
                    for k in ("latency_median_s", "latency_p90_s", "latency_max_s", "dropped_ratio", "frames_captured",
                              "frames_processed", "lag_first_10s_s", "lag_last_10s_s", "window_s", "labelled_windows")}
    finish("infer", dict(
        clip_seconds=round(clip_seconds, 3), wall_seconds=round(arm_wall, 3), rtf=round(rtf, 3),
        fps_after_startup=round(fps[1], 2), fps_after_startup_every_frame=round(fps[2], 2),
        fps_after_startup_every_frame_1worker=round(fps[3], 2), pose_every_speedup=round(fps[1] / fps[2], 3),
        workers_speedup=round(fps[2] / fps[3], 3), ntu_wall_seconds=round(ntu_wall, 3),
        startup_seconds=round(arm["timings"]["startup_s"], 3), checkpoint=which,
        load_avg_before=round(load_before, 2), load_avg_after=round(os.getloadavg()[0], 2),
        hug_fps_after_startup=round(fps[4], 2), hug_persons=len(hug["persons"]),
        live_seconds=LIVE_SECONDS, live_input_fps=LIVE_FPS, live_input_size=list(LIVE_SIZE),
        live_latency_target_s=round(live["torch"]["window_s"] / 2 + 0.5, 3), **live_figures,
        tracking=tracking, single_person=single,
        tracking_calls_per_frame=tracking_calls, floor=floor, **floor_summary(floor),
    ))


if __name__ == "__main__":
    main()
