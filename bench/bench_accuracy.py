"""`make bench-accuracy [SEEDS=3] [VARIANTS="pggcn no_pose no_pgam"] [LEVERS="..."] [JOBS=2]`: NW-UCLA cross-view
top-1 of PG-GCN, its ablations and the accuracy levers of issue #23 (train v01+v02, test v03, 464 samples), as
mean +- std over seeds, at the last epoch (nothing is chosen on the test view).

Each run is the project's own `tools/train.py` with `train.seed` = 0, 1, ...; its top-1 is read after the last
epoch (the protocol that counts here) and at the best epoch (CTR-GCN's code reports that one; the test view is
also its validation view). Variants (keys at the top level of accuracy.json):
  pggcn        the default recipe (configs/pggcn_nwucla_default.py): J + V + B streams + heatmap pose stream
               fused by PG-AM; its seed-0 run is how the shipped checkpoint is made
  no_pose      the same network without the pose stream (plain 3-branch GCN)
  no_pgam      pose features concatenated late instead of PG-AM
Levers (one row each in accuracy.json's `levers`, kept across runs of this bench until re-measured): changes to
the default recipe, each trained over the same seeds, or test-time levers computed from the pggcn runs.

Runs go one after the other, or JOBS side by side with one thread each (train minutes are then those of a
shared machine, and say so). An interrupted bench resumes: finished runs are kept (a `done` file holding the
minutes), an unfinished one resumes from its last.pth.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import RESULTS, finish  # noqa: E402

CONFIG = "configs/pggcn_nwucla_default.py"
T32 = "configs/pggcn_nwucla_t32.py"
OUT = ROOT / "work_dirs/bench_accuracy"
VARIANTS = {"pggcn": (CONFIG, []), "no_pose": (CONFIG, ["model.pose_input=None"]),
            "no_pgam": (CONFIG, ["model.fusion=concat"])}
# name: (config, options, what it changes against the default recipe)
TRAIN_LEVERS = {
    "epochs_65": (CONFIG, ["train.epochs=65"], "65 epochs instead of 24 (CTR-GCN's count), cosine to the end"),
    "skateformer_drops": ("configs/pggcn_nwucla_drops.py", [],
                          "SkateFormer's NW-UCLA drop-axis and drop-joints augmentations, p=0.5 each (its random "
                          "scale is left out: per-axis min-max scaling undoes it)"),
    "bone_velocity_streams": (CONFIG, ["model.streams=('bone','velocity')"],
                              "a bone-centred PG-GCN alone: B + V streams, no joint positions"),
    "wider_blocks": (CONFIG, ["model.branch_channels=(24,48)", "model.main_channels=(96,96)"],
                     "blocks 1.5x wider (branches 24-48, main stream 96-96 channels)"),
    "video_recipe": ("configs/pggcn_nwucla_video.py", [],
                     "Kinect joints made to look like an estimator's: each person centred per frame (no travel "
                     "through the scene), legs' swing damped 0.4-1x half the time"),
    "ensemble_jvb_bv": ("configs/pggcn_nwucla_ensemble.py", [],
                        "two-stream ensemble in one model: the default J+V+B PG-GCN and a B+V one, trained side "
                        "by side, mean of their softmax"),
    "clip_32_epochs_50": (T32, [], "32-frame clips instead of 52 (1.6x cheaper steps) and 50 epochs instead of 24 "
                          "(what the time saved buys)"),
}
# name: (member lever, members, what): separately trained runs of the member lever joined into one Ensemble
# checkpoint (tools/make_ensemble.py). Seed s of the ensemble joins the member runs of seeds K*s .. K*s+K-1,
# so the member lever's seeds 0..N-1 are also its own single-model figures; members run side by side.
JOINED_LEVERS = {
    "ensemble_2x_clip_32_epochs_50": ("clip_32_epochs_50", 2, "two clip_32_epochs_50 models trained side by "
                                      "side (seeds 2s, 2s+1), joined into one Ensemble checkpoint: mean of their "
                                      "softmax"),
}
# The recipe that makes the shipped default model (checkpoints/pggcn_nwucla_default.pth is its seed-0 ensemble):
# its row is also written as accuracy.json's `default_model` whenever it is measured. The top-level keys stay
# the single-network default recipe's (CONFIG), which the ablation variants vary.
SHIPPED_RECIPE = "ensemble_2x_clip_32_epochs_50"
TEST_LEVERS = {
    "tta_5_clips": "the default recipe's runs tested on 5 uniformly sampled clips per sample, softmax averaged",
    "tta_10_clips": "the same with 10 clips",
    "seed_ensemble": "the default recipe's seed runs as one ensemble (mean of their softmax): one figure, its "
                     "cost the sum of the runs",
}


def work_dir(name: str, seed: int, minutes: float | None) -> Path:
    return OUT / (f"{name}_seed{seed}" if minutes is None else f"{name}_seed{seed}_{minutes:g}min")


def train_run(config: str, options: list[str], work: Path, seed: int, minutes: float | None, threads: int | None):
    """Train one run unless its `done` file says it finished."""
    if (work / "done").exists():
        return
    opts = [f"train.seed={seed}", *options]
    if minutes is not None:
        opts.append(f"train.time_budget_min={minutes}")
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    t = time.perf_counter()
    subprocess.run([sys.executable, "tools/train.py", config, "--work-dir", str(work), "--cfg-options", *opts],
                   cwd=ROOT, check=True, env=env)
    shared = f"{threads} thread(s), other trainings beside it" if threads else "alone"
    (work / "done").write_text(f"{(time.perf_counter() - t) / 60:.1f}\n{shared}\n")


def prepare_annotations(configs) -> None:
    """Each config's annotation file, made now (NW-UCLA's is imported on first use): trainings started side by
    side would otherwise all try to import it, and all but one would stop at the import's lock."""
    from pipeline.config import load_config
    from pipeline.engine.annotation_file import ensure_annotations

    for config in sorted(configs):
        ensure_annotations(load_config(ROOT / config))


def read_run(name: str, seed: int, work: Path) -> dict:
    from pipeline.checkpoint import load_checkpoint

    best, last = (load_checkpoint(work / f)["meta"] for f in ("best.pth", "last.pth"))
    done = (work / "done").read_text().splitlines()  # minutes, then (optional) how the machine was shared
    lines = (work / "log.json").read_text().splitlines() if (work / "log.json").exists() else []
    # the run's own clock (training and its test passes, summed over resumes), else the bench's
    minutes = json.loads(lines[-1]).get("elapsed_s", 0) / 60 if lines else 0.0
    result = dict(top1_last=last["metrics"]["top1"], top1_best=best["metrics"]["top1"], epochs=last["epoch"],
                  train_min=round(minutes, 1) or float(done[0]), note=" ".join(done[1:]).strip())
    print(f"{name} seed {seed}: top-1 {result['top1_last']:.2%} after {result['epochs']} epochs (best "
          f"{result['top1_best']:.2%} at epoch {best['epoch']}), {result['train_min']:.1f} min", flush=True)
    return result


def test_scores(config: str, options: list[str], work: Path, clips: int = 1) -> Path:
    """The run's last.pth on the test view, `clips` uniformly sampled test clips per sample (softmax
    averaged) -> its scores.npz (the checkpoint's own test pipeline, as `make eval` reads it)."""
    from pipeline.config import load_config, parse_cfg_options
    from pipeline.engine.evaluation import evaluate

    out = work / ("eval_last" if clips == 1 else f"eval_last_{clips}clips")
    if not (out / "scores.npz").exists():
        cfg = load_config(ROOT / config, parse_cfg_options(options) if options else None)
        evaluate(cfg, work / "last.pth", out, num_clips=clips, title=f"{work.name}, {clips} test clip(s)")
    return out / "scores.npz"


def summarise(runs: list[dict]) -> dict:
    last = [r["top1_last"] for r in runs]
    return dict(top1_last_mean=round(statistics.mean(last), 4),
                top1_last_std=round(statistics.stdev(last), 4) if len(last) > 1 else 0.0,
                top1_best_mean=round(statistics.mean(r["top1_best"] for r in runs), 4),
                top1_last_per_seed=[round(x, 4) for x in last], epochs=runs[0]["epochs"],
                train_min_mean=round(statistics.mean(r["train_min"] for r in runs), 1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=1, help="runs per variant, with train.seed = 0..N-1")
    p.add_argument("--variants", nargs="*", default=None, choices=list(VARIANTS),
                   help="default: all, or none when --levers is given")
    p.add_argument("--levers", nargs="*", default=[], choices=[*TRAIN_LEVERS, *JOINED_LEVERS, *TEST_LEVERS])
    p.add_argument("--jobs", type=int, default=1, help="trainings side by side, one thread each")
    p.add_argument("--default-from-results", action="store_true",
                   help="with --levers: set the levers against the default recipe's per-seed figures already in "
                        "accuracy.json instead of training its runs again (they are bit-for-bit reproducible for a "
                        "thread count; train-time levers only)")
    p.add_argument("--minutes", type=float, default=None,
                   help="train on a wall-clock budget instead of the recipe's fixed epochs (machine-dependent)")
    a = p.parse_args()
    # with --levers only, the top-level (variant) figures are left as they are; the default recipe's runs over
    # the same seeds are still made (or read when done): test-time levers are computed from them, and every
    # lever is set against them
    variants = a.variants if a.variants is not None else ([] if a.levers else list(VARIANTS))
    seeds = range(a.seeds)
    plan = {name: VARIANTS[name][:2] for name in variants}
    old = RESULTS / "accuracy.json"
    figures = json.loads(old.read_text()) if old.exists() else {}
    recorded = figures.get("top1_last_per_seed") or []
    reuse = (a.default_from_results and "pggcn" not in variants and len(recorded) >= a.seeds
             and not any(n in TEST_LEVERS for n in a.levers))
    if a.levers and not reuse:
        plan.setdefault("pggcn", VARIANTS["pggcn"][:2])
    plan.update({name: TRAIN_LEVERS[name][:2] for name in a.levers if name in TRAIN_LEVERS})
    tasks = [(name, cfg, opts, seed) for name, (cfg, opts) in plan.items() for seed in seeds]
    member_seeds = {}  # member lever -> the seeds its joined ensembles need beyond `seeds`
    for name in a.levers:
        if name in JOINED_LEVERS:
            member, k, _ = JOINED_LEVERS[name]
            member_seeds.setdefault(member, set()).update(range(k * a.seeds))
    for member, need in member_seeds.items():  # in seed order, so each ensemble's members run side by side
        cfg, opts = TRAIN_LEVERS[member][:2]
        have = {seed for name, _, _, seed in tasks if name == member}
        tasks += [(member, cfg, opts, seed) for seed in sorted(need - have)]
    threads = 1 if a.jobs > 1 else None
    prepare_annotations({cfg for _, cfg, _, _ in tasks})  # once, before trainings side by side race to make it
    with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for f in [pool.submit(train_run, cfg, opts, work_dir(name, seed, a.minutes), seed, a.minutes, threads)
                  for name, cfg, opts, seed in tasks]:
            f.result()
    runs = {name: [read_run(name, s, work_dir(name, s, a.minutes)) for s in seeds] for name in plan}
    for member in member_seeds:
        runs[member + "/all"] = [read_run(member, s, work_dir(member, s, a.minutes))
                                 for s in sorted(member_seeds[member])]

    if variants:  # the top-level figures are the variants'; a levers-only run leaves them as they are
        notes = sorted({r["note"] for name in variants for r in runs[name] if r["note"]})
        figures.update(config=CONFIG, seeds=a.seeds, test_samples=464,
                       budget=f"{a.minutes:g} min per run" if a.minutes else "fixed epochs (the recipe's)",
                       train_min_note="; ".join(notes), date=time.strftime("%Y-%m-%d"))
    for name in variants:
        key = "" if name == "pggcn" else f"{name}_"
        figures.update({f"{key}{k}": v for k, v in summarise(runs[name]).items()})
    if "pggcn" in variants:
        for name, label in (("no_pose", "pose_stream_gain"), ("no_pgam", "pgam_gain_over_concat")):
            if name in variants:
                figures[label] = round(figures["top1_last_mean"] - figures[f"{name}_top1_last_mean"], 4)
    rows = {r["lever"]: r for r in figures.get("levers", [])}
    if reuse:  # the default's recorded runs over these seeds
        last = recorded[:a.seeds]
        base = dict(top1_last_mean=round(statistics.mean(last), 4))
        print(f"default recipe: per-seed figures from {old.name} ({', '.join(f'{x:.2%}' for x in last)})")
    else:
        base = summarise(runs["pggcn"]) if a.levers else None
    for name in a.levers:
        if name in TRAIN_LEVERS:
            cfg, opts, what = TRAIN_LEVERS[name]
            row = dict(lever=name, what=what, config=cfg, options=opts, seeds=a.seeds, **summarise(runs[name]))
        elif name in JOINED_LEVERS:
            member, k, what = JOINED_LEVERS[name]
            cfg, opts = TRAIN_LEVERS[member][:2]
            row = dict(lever=name, what=what, config=cfg, options=opts, seeds=a.seeds,
                       **joined_lever(name, member, k, seeds, a.minutes, runs[member + "/all"], a.jobs))
        else:
            row = dict(lever=name, what=TEST_LEVERS[name], config=CONFIG, options=[], seeds=a.seeds,
                       **test_lever(name, seeds, a.minutes, runs["pggcn"]))
        if base is not None:  # the default recipe over the same seeds
            row["default_top1_last_mean"] = base["top1_last_mean"]
            row["gain_over_default"] = round(row["top1_last_mean"] - base["top1_last_mean"], 4)
        trained = runs.get(name) or runs.get(JOINED_LEVERS.get(name, ("",))[0] + "/all") or runs["pggcn"]
        notes = sorted({r["note"] for r in trained if r["note"]})
        row["train_min_note"] = "; ".join(notes) if name in TRAIN_LEVERS or name in JOINED_LEVERS else \
            "the default recipe's runs, evaluated again"
        rows[name] = row
        print(f"lever {name}: top-1 {row['top1_last_mean']:.2%} over {a.seeds} seed(s)"
              + (f", {row['gain_over_default']:+.2%} against the default" if base else ""), flush=True)
    if rows:
        figures["levers"] = list(rows.values())
    if SHIPPED_RECIPE in a.levers:
        row = rows[SHIPPED_RECIPE]
        keep = ("seeds", "top1_last_mean", "top1_last_std", "top1_last_per_seed", "train_min_mean")
        figures["default_model"] = dict(recipe=SHIPPED_RECIPE, what=row["what"],
                                        checkpoint="checkpoints/pggcn_nwucla_default.pth", **{k: row[k] for k in keep})
    finish("accuracy", figures)


def joined_lever(name: str, member: str, k: int, seeds, minutes, member_runs: list[dict], jobs: int) -> dict:
    """Per seed s: the member runs K*s .. K*s+K-1 joined into one Ensemble checkpoint, its top-1 on the test
    view. Minutes per seed: the longest member's when they ran side by side (JOBS >= K), else their sum."""
    from pipeline.config import load_config, parse_cfg_options
    from pipeline.engine.ensemble import join_checkpoints
    from pipeline.engine.evaluation import evaluate

    cfg_path, opts = TRAIN_LEVERS[member][:2]
    cfg = load_config(ROOT / cfg_path, parse_cfg_options(opts) if opts else None)
    per_seed, minutes_per_seed = [], []
    for s in seeds:
        members = [work_dir(member, k * s + i, minutes) for i in range(k)]
        work = work_dir(name, s, minutes)
        joined = work / "ensemble.pth"
        if not (work / "eval_last/metrics.json").exists():
            work.mkdir(parents=True, exist_ok=True)
            if joined.exists():
                joined.unlink()  # made again from the members as they are now
            # the recipe's own video window (members trained before their config named it lack it)
            window = {"video_window": cfg.video_window} if cfg.get("video_window") else {}
            join_checkpoints([m / "last.pth" for m in members], joined, window)
            evaluate(cfg, joined, work / "eval_last", title=f"{work.name}: {k} members joined")
        per_seed.append(json.loads((work / "eval_last/metrics.json").read_text())["top1"])
        mins = [member_runs[k * s + i]["train_min"] for i in range(k)]
        minutes_per_seed.append(max(mins) if jobs >= k else sum(mins))
        print(f"{name} seed {s}: top-1 {per_seed[-1]:.2%} ({k} members, {minutes_per_seed[-1]:.1f} min)", flush=True)
    return dict(top1_last_mean=round(statistics.mean(per_seed), 4),
                top1_last_std=round(statistics.stdev(per_seed), 4) if len(per_seed) > 1 else 0.0,
                top1_last_per_seed=[round(x, 4) for x in per_seed], members=k,
                epochs=member_runs[0]["epochs"], train_min_mean=round(statistics.mean(minutes_per_seed), 1),
                train_min_per_seed="members side by side: the longest member's minutes" if jobs >= k else
                "members one after the other: their minutes summed")


def test_lever(name: str, seeds, minutes, pggcn_runs: list[dict]) -> dict:
    from pipeline.engine.ensemble import fuse, load_scores
    from pipeline.engine.evaluation import compute_metrics

    works = [work_dir("pggcn", s, minutes) for s in seeds]
    if name == "seed_ensemble":
        top1 = fuse([test_scores(CONFIG, [], w) for w in works])["top1"]
        return dict(top1_last_mean=round(top1, 4), top1_last_std=0.0, top1_last_per_seed=[],
                    members=len(works), train_min_mean=round(sum(r["train_min"] for r in pggcn_runs), 1))
    clips = int(name.split("_")[1])
    per_seed = []
    for w in works:
        _, labels, scores = load_scores(test_scores(CONFIG, [], w, clips))
        per_seed.append(compute_metrics(scores, labels)["top1"])
    return dict(top1_last_mean=round(statistics.mean(per_seed), 4),
                top1_last_std=round(statistics.stdev(per_seed), 4) if len(per_seed) > 1 else 0.0,
                top1_last_per_seed=[round(x, 4) for x in per_seed], test_clips=clips,
                train_min_mean=round(statistics.mean(r["train_min"] for r in pggcn_runs), 1))


if __name__ == "__main__":
    main()
