"""`make bench-accuracy`: PG-GCN and its ablations on NW-UCLA cross-view (train v01+v02, test v03, 464 samples).

Each variant trains with the same wall-clock budget on this CPU (default 30 min, the issue's budget; `--minutes` to change)
through the project's own `tools/train.py`, one after the other, and reports its test top-1 after the last
epoch and at its best epoch (the test view is also the validation view, as in CTR-GCN's NW-UCLA protocol):
  pggcn        J + V + B streams + heatmap pose stream fused by PG-AM: the default model's recipe
               (configs/pggcn_nwucla_default.py), so its run is also how the shipped checkpoint is made
  no_pose      the same network without the pose stream (plain 3-branch GCN)
  no_pgam      pose features concatenated late instead of PG-AM
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import finish  # noqa: E402

CONFIG = "configs/pggcn_nwucla_default.py"
VARIANTS = {"pggcn": [], "no_pose": ["model.pose_input=None"], "no_pgam": ["model.fusion=concat"]}


def main() -> None:
    from pipeline.checkpoint import load_checkpoint

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="training budget per variant")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    a = p.parse_args()
    out = ROOT / "work_dirs/bench_accuracy"
    figures: dict = dict(minutes_per_variant=a.minutes, test_samples=464)
    for name in a.variants:
        work = out / f"{name}_{a.minutes:g}min"
        if (work / "last.pth").exists() and not (work / "done").exists():
            print(f"{name}: resuming the interrupted run in {work}")
        t = time.perf_counter()
        cmd = [sys.executable, "tools/train.py", CONFIG, "--work-dir", str(work), "--cfg-options",
               f"train.time_budget_min={a.minutes}", *VARIANTS[name]]
        if not (work / "done").exists():
            subprocess.run(cmd, cwd=ROOT, check=True)
            (work / "done").touch()
        best = load_checkpoint(work / "best.pth")["meta"]
        last = load_checkpoint(work / "last.pth")["meta"]
        figures[f"{name}_top1"] = round(last["metrics"]["top1"], 4)
        figures[f"{name}_best_top1"] = round(best["metrics"]["top1"], 4)
        figures[f"{name}_epochs"] = last["epoch"]
        figures[f"{name}_train_min"] = round((time.perf_counter() - t) / 60, 1)
        print(f"{name}: top-1 {last['metrics']['top1']:.2%} after {last['epoch']} epochs "
              f"(best {best['metrics']['top1']:.2%} at epoch {best['epoch']})", flush=True)
    if "pggcn_top1" in figures and "no_pose_top1" in figures:
        figures["pose_stream_gain"] = round(figures["pggcn_top1"] - figures["no_pose_top1"], 4)
    if "pggcn_top1" in figures and "no_pgam_top1" in figures:
        figures["pgam_gain_over_concat"] = round(figures["pggcn_top1"] - figures["no_pgam_top1"], 4)
    finish("accuracy", figures)


if __name__ == "__main__":
    main()
