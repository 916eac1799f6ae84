#!/usr/bin/env python
"""`make demo`: the whole pipeline on the shipped real data, offline, on CPU, in a few minutes.

Steps (each one is a project command a user could type; outputs under --out, default work_dirs/demo/):
  1. extract   2D pose on the real NTU sample, aligned with its Kinect skeleton (+ alignment report, heatmap picture)
  2. evaluate  the shipped default model on the NW-UCLA test view (metrics, confusion matrix PNG)
  3. train     a short PG-GCN run on NW-UCLA (configs/pggcn_demo.py)
  4. infer     tools/infer_video.py on the shipped videos, with overlay MP4s and JSON, and the fall model on a
               held-out GMDCSA24 fall clip
  5. deploy    the default model exported to ONNX and run with onnxruntime (no torch) on the hug clip
  6. live      the 3-person clip played live for 10 s: labels as they change, with their latency
A failed step is reported and the demo goes on; the exit code is non-zero if any step failed.
"""
from __future__ import annotations


import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pipeline.cli import ArgumentParser, run_cli

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
NTU_SAMPLE = ROOT / "tests/assets/ntu_sample"
VIDEOS = ROOT / "tests/assets/videos"
DEFAULT_CHECKPOINT = ROOT / "checkpoints/pggcn_nwucla_default.pth"


def _ntu_data_root(out: Path) -> Path:
    """The standard NTU layout (nturgb+d_skeletons/, nturgb+d_rgb/) around the shipped sample."""
    root = out / "ntu_data_root"
    for sub, pattern in (("nturgb+d_skeletons", "*.skeleton"), ("nturgb+d_rgb", "*_rgb.avi")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for f in NTU_SAMPLE.glob(pattern):
            dst = root / sub / f.name
            if not dst.exists():
                shutil.copyfile(f, dst)
    return root


def steps(out: Path, skip_train: bool) -> list[tuple[str, list[str]]]:
    ntu_root = _ntu_data_root(out)
    rgb = NTU_SAMPLE / "S001C001P001R001A001_rgb.avi"
    s = [
        ("extract: pose on the real NTU sample, aligned with Kinect",
         [PY, "tools/extract_dataset.py", "--dataset", "ntu60", "--data-root", str(ntu_root), "--out", str(out / "extract"),
          "--pose", "mediapipe"]),
        ("picture: heatmaps over the NTU frame",
         [PY, "tools/render_heatmaps.py", "--annotations", str(out / "extract/annotations.pkl"), "--video", str(rgb),
          "--out", str(out / "heatmap_overlay.png")]),
        ("evaluate: default model on NW-UCLA test view v03",
         [PY, "tools/test.py", "configs/pggcn_nwucla_default.py", "--checkpoint", str(DEFAULT_CHECKPOINT),
          "--work-dir", str(out / "eval_default")]),
    ]
    if not skip_train:
        s.append(("train: short PG-GCN run on NW-UCLA (configs/pggcn_demo.py)",
                  [PY, "tools/train.py", "configs/pggcn_demo.py", "--work-dir", str(out / "train_demo")]))
    for video in [rgb, *sorted(VIDEOS.glob("*.mp4")), *sorted(VIDEOS.glob("*.avi"))]:
        stem = video.stem
        s.append((f"infer: {video.name}",
                  [PY, "tools/infer_video.py", str(video), "--out", str(out / f"videos/{stem}_overlay.mp4"),
                   "--json", str(out / f"videos/{stem}.json")]))
    fall = ROOT / "tests/assets/gmdcsa24/subject3_fall_19.mp4"
    s.append(("infer: a held-out GMDCSA24 fall clip with the fall model (checkpoints/pggcn_gmdcsa_fall.pth)",
              [PY, "tools/infer_video.py", str(fall), "--checkpoint", str(ROOT / "checkpoints/pggcn_gmdcsa_fall.pth"),
               "--out", str(out / "videos/gmdcsa_fall_overlay.mp4"), "--json", str(out / "videos/gmdcsa_fall.json")]))
    onnx = out / "pggcn_nwucla_default.onnx"
    s.append(("deploy: export the default model to ONNX (checked against torch)",
              [PY, "tools/export_onnx.py", str(DEFAULT_CHECKPOINT), "--out", str(onnx)]))
    s.append(("deploy: the hug clip with onnxruntime (--backend onnx, no torch)",
              [PY, "tools/infer_video.py", str(VIDEOS / "ntu_hug_1920x1080.avi"), "--backend", "onnx", "--checkpoint",
               str(onnx), "--json", str(out / "videos/ntu_hug_onnx.json"), "--timeline-png",
               str(out / "videos/ntu_hug_timeline.png")]))
    s.append(("live: the 3-person clip played live for 10 s (labels as they change, with latency)",
              [PY, "tools/infer_video.py", str(VIDEOS / "group_exercise_3p_384x288.avi"), "--live", "--max-seconds",
               "10", "--json", str(out / "videos/live_events.jsonl")]))
    return s


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "work_dirs/demo")
    p.add_argument("--skip-train", action="store_true", help="leave out the short training run")
    args = p.parse_args(argv)
    out = args.out.resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{args.out}: exists and is not a folder")
    (out / "videos").mkdir(parents=True, exist_ok=True)
    results = []
    start = time.perf_counter()
    for title, cmd in steps(out, args.skip_train):
        print(f"\n=== {title}\n$ {' '.join(Path(c).name if c == PY else c for c in cmd)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, cwd=ROOT).returncode
        results.append((title, rc, time.perf_counter() - t0))
    print(f"\n=== demo finished in {time.perf_counter() - start:.0f} s; everything is under {out}/")
    for title, rc, secs in results:
        print(f"  [{'ok' if rc == 0 else f'FAILED rc={rc}'}] {secs:6.1f} s  {title}")
    print(f"""
Where to look:
  {out}/extract/alignment_report.json   2D pose vs Kinect (pixel error, PCK@0.1H)
  {out}/heatmap_overlay.png             per-joint heatmaps over the NTU frame
  {out}/eval_default/                   metrics.json, per-class CSV, confusion matrix PNG
  {out}/train_demo/                     the short training run (log, checkpoints, metrics)
  {out}/videos/                         overlay MP4s and JSON predictions for the shipped videos,
                                        the ONNX run's timeline picture, the live run's JSON lines""")
    return 0 if all(rc == 0 for _, rc, _ in results) else 1


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
