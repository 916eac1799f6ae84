"""`make bench-accuracy [SEEDS=3] [VARIANTS="pggcn no_pose no_pgam"]`: NW-UCLA cross-view top-1 of PG-GCN and its
ablations (train v01+v02, test v03, 464 samples), as mean +- std over seeds.

Each run is the project's own `tools/train.py` on the default recipe (configs/pggcn_nwucla_default.py: a fixed
number of epochs, so the figures do not depend on the machine's speed), one after the other, with
`train.seed` = 0, 1, ...; its top-1 is read after the last epoch (the protocol that counts here) and at the
best epoch (CTR-GCN's code reports that one; the test view is also its validation view). Variants:
  pggcn        J + V + B streams + heatmap pose stream fused by PG-AM: the default model's recipe, so the
               seed-0 run is also how the shipped checkpoint is made
  no_pose      the same network without the pose stream (plain 3-branch GCN)
  no_pgam      pose features concatenated late instead of PG-AM
An interrupted bench resumes: finished runs are kept, an unfinished one resumes from its last.pth.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import finish  # noqa: E402

CONFIG = "configs/pggcn_nwucla_default.py"
VARIANTS = {"pggcn": [], "no_pose": ["model.pose_input=None"], "no_pgam": ["model.fusion=concat"]}


def run_variant(name: str, seed: int, out: Path, minutes: float | None) -> dict:
    from pipeline.checkpoint import load_checkpoint

    work = out / f"{name}_seed{seed}" if minutes is None else out / f"{name}_seed{seed}_{minutes:g}min"
    options = [f"train.seed={seed}", *VARIANTS[name]]
    if minutes is not None:
        options.append(f"train.time_budget_min={minutes}")
    t = time.perf_counter()
    if not (work / "done").exists():
        subprocess.run([sys.executable, "tools/train.py", CONFIG, "--work-dir", str(work), "--cfg-options",
                        *options], cwd=ROOT, check=True)
        (work / "done").write_text(f"{(time.perf_counter() - t) / 60:.1f}\n")
    best, last = (load_checkpoint(work / f)["meta"] for f in ("best.pth", "last.pth"))
    result = dict(top1_last=last["metrics"]["top1"], top1_best=best["metrics"]["top1"], epochs=last["epoch"],
                  train_min=float((work / "done").read_text()))
    print(f"{name} seed {seed}: top-1 {result['top1_last']:.2%} after {result['epochs']} epochs (best "
          f"{result['top1_best']:.2%} at epoch {best['epoch']}), {result['train_min']:.1f} min", flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=1, help="runs per variant, with train.seed = 0..N-1")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--minutes", type=float, default=None,
                   help="train on a wall-clock budget instead of the recipe's fixed epochs (machine-dependent)")
    a = p.parse_args()
    out = ROOT / "work_dirs/bench_accuracy"
    figures: dict = dict(config=CONFIG, seeds=a.seeds, test_samples=464,
                         budget=f"{a.minutes:g} min per run" if a.minutes else "fixed epochs (the recipe's)")
    for name in a.variants:
        runs = [run_variant(name, seed, out, a.minutes) for seed in range(a.seeds)]
        last = [r["top1_last"] for r in runs]
        best = [r["top1_best"] for r in runs]
        key = "" if name == "pggcn" else f"{name}_"
        figures[f"{key}top1_last_mean"] = round(statistics.mean(last), 4)
        figures[f"{key}top1_last_std"] = round(statistics.stdev(last), 4) if len(last) > 1 else 0.0
        figures[f"{key}top1_best_mean"] = round(statistics.mean(best), 4)
        figures[f"{key}top1_last_per_seed"] = [round(x, 4) for x in last]
        figures[f"{key}epochs"] = runs[0]["epochs"]
        figures[f"{key}train_min_mean"] = round(statistics.mean(r["train_min"] for r in runs), 1)
    if "pggcn" in a.variants:
        for name, label in (("no_pose", "pose_stream_gain"), ("no_pgam", "pgam_gain_over_concat")):
            if name in a.variants:
                figures[label] = round(figures["top1_last_mean"] - figures[f"{name}_top1_last_mean"], 4)
    finish("accuracy", figures)


if __name__ == "__main__":
    main()
