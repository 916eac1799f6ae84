"""The dataset-scale extraction runner behind `make extract`.

Why it is built this way (NTU-120 is 114,480 videos, about 11 million frames):
- Resumable: each sample's record is written atomically on its own (`parts/<name>.pkl`), a failure as
  `parts/<name>.failed` (JSON with the reason). A re-run skips finished samples and retries failed ones;
  killing the run loses at most the samples in flight, and a half-written part cannot exist (temp + rename).
- Parallel and distributed without cluster code of our own: WORKERS processes on one machine, and
  `--shard i/n` (or RANK / WORLD_SIZE from torchrun) picks every n-th sample, so a cluster array job or
  `torchrun --nproc_per_node=8 tools/extract.py ...` splits the work. The run that finds every sample done
  (the last shard, or any re-run) merges the parts into annotations.pkl, atomically.
- A bad file fails its sample with a reason; the run goes on, lists the failures at the end and exits
  non-zero.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.annotations import build_ntu_record, save_annotations
from pipeline.fileio import atomic_json_dump, atomic_pickle_dump, safe_pickle_load
from pipeline.ntu_names import in_dataset, make_splits, missing_skeletons, parse_sample_name

SKELETON_DIR = "nturgb+d_skeletons"
RGB_DIR = "nturgb+d_rgb"
POSE_FIELDS = ("pose_keypoint", "pose_score", "pose_world", "pose_source", "pose_mirrored", "pose_frames")


@dataclass
class ExtractConfig:
    dataset: str
    data_root: Path
    out: Path
    pose: str = "none"  # none | mediapipe | mmpose
    workers: int = 1
    shard: tuple[int, int] = (0, 1)
    pose_config: str | None = None
    pose_checkpoint: str | None = None
    limit: int | None = None  # first N samples only (smoke runs)


@dataclass
class RunResult:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    merged: Path | None = None
    pending: int = 0


def parse_shard(text: str | None) -> tuple[int, int]:
    """'i/n' -> (i, n); None -> from RANK / WORLD_SIZE (torchrun) or (0, 1)."""
    if text is None:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        return rank, world
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard expects i/n (e.g. 0/8), got {text!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard {text}: need 0 <= i < n")
    return i, n


def list_samples(cfg: ExtractConfig) -> list[str]:
    """Sample names of the dataset found under DATA_ROOT, missing-skeleton samples excluded, sorted."""
    skel_dir = cfg.data_root / SKELETON_DIR
    if not skel_dir.is_dir():
        raise FileNotFoundError(f"{skel_dir}: folder not found (DATA_ROOT must hold {SKELETON_DIR}/ and {RGB_DIR}/)")
    missing = missing_skeletons(cfg.dataset)
    names = []
    for p in skel_dir.glob("*.skeleton"):
        try:
            name = parse_sample_name(p.name)
        except ValueError:
            continue
        if in_dataset(name, cfg.dataset) and str(name) not in missing:
            names.append(str(name))
    names.sort()
    return names[: cfg.limit] if cfg.limit else names


def part_path(out: Path, name: str, suffix: str = ".pkl") -> Path:
    return out / "parts" / f"{name}{suffix}"


def _part_ok(path: Path) -> bool:
    try:
        rec = safe_pickle_load(path)
    except Exception:
        return False
    return isinstance(rec, dict) and "keypoint" in rec


# --- work done in each worker process ------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(cfg: ExtractConfig, pose_fn: Callable | None, estimator=None) -> None:
    """Per-process state; `estimator` is reused when given (in-process runs), else built on first use."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    _WORKER.clear()
    _WORKER["cfg"] = cfg
    _WORKER["pose_fn"] = pose_fn
    _WORKER["estimator"] = estimator


def _estimate(video: Path, record: dict) -> dict:
    cfg: ExtractConfig = _WORKER["cfg"]
    if _WORKER["pose_fn"] is not None:
        return _WORKER["pose_fn"](video, record)
    from extract.align import estimate_sample_pose  # heavy: only when a pose backend is asked for
    from extract.backends import build_estimator

    if _WORKER["estimator"] is None:
        _WORKER["estimator"] = build_estimator(cfg.pose, config=cfg.pose_config, checkpoint=cfg.pose_checkpoint)
    return estimate_sample_pose(video, record, _WORKER["estimator"])


def process_sample(name: str) -> tuple[str, str | None, dict | None, int]:
    """Build one sample's record (+ pose); write its part. Returns (name, error, quality, frames)."""
    cfg: ExtractConfig = _WORKER["cfg"]
    failed = part_path(cfg.out, name, ".failed")
    try:
        record = build_ntu_record(cfg.data_root / SKELETON_DIR / f"{name}.skeleton")
        quality = None
        if cfg.pose != "none":
            video = cfg.data_root / RGB_DIR / f"{name}_rgb.avi"
            if not video.is_file():
                raise FileNotFoundError(f"{video}: RGB video not found")
            pose = _estimate(video, record)
            quality = pose.pop("quality", None)
            record.update(pose)
        atomic_pickle_dump(record, part_path(cfg.out, name))
        failed.unlink(missing_ok=True)
        return name, None, quality, int(record["total_frames"])
    except Exception as e:  # a bad sample must not stop the run
        reason = " ".join(str(e).split()) or type(e).__name__
        atomic_json_dump(dict(sample=name, reason=reason), failed)
        return name, reason, None, 0


# --- the driver --------------------------------------------------------------------------------
def run(cfg: ExtractConfig, pose_fn: Callable | None = None, progress: bool = True) -> RunResult:
    """Extract this shard's samples (resuming), then merge if every sample of the dataset is settled.

    pose_fn(video_path, record) -> dict replaces the real pose backend (tests inject a fake one).
    """
    from tqdm import tqdm

    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "parts").mkdir(exist_ok=True)
    names = list_samples(cfg)
    rank, world = cfg.shard
    mine = names[rank::world]
    result = RunResult()
    todo = []
    for name in mine:
        if part_path(cfg.out, name).exists() and _part_ok(part_path(cfg.out, name)):
            result.skipped.append(name)
        else:
            todo.append(name)
    estimator = None
    if todo and pose_fn is None and cfg.pose != "none":
        from extract.backends import build_estimator

        # Once, up front: a bad POSE_CONFIG/POSE_CHECKPOINT or a missing extra stops the run with one
        # message instead of failing every sample. Workers build their own (models do not cross processes).
        estimator = build_estimator(cfg.pose, config=cfg.pose_config, checkpoint=cfg.pose_checkpoint)
    qualities: dict[str, dict] = {}
    frames = 0
    start = time.perf_counter()
    bar = tqdm(total=len(todo), unit="file", desc=f"extract {cfg.dataset} shard {rank}/{world}",
               disable=not progress, dynamic_ncols=True)
    with bar:
        if cfg.workers <= 1:
            _init_worker(cfg, pose_fn, estimator)
            results = map(process_sample, todo)
            pool = None
        else:
            pool = ProcessPoolExecutor(cfg.workers, initializer=_init_worker, initargs=(cfg, pose_fn))
            results = pool.map(process_sample, todo, chunksize=1)
        try:
            for name, error, quality, n_frames in results:
                if error:
                    result.failures[name] = error
                else:
                    result.done.append(name)
                    frames += n_frames
                    if quality is not None:
                        qualities[name] = quality
                bar.update(1)
                if cfg.pose != "none":
                    bar.set_postfix(frames_s=f"{frames / max(time.perf_counter() - start, 1e-9):.1f}",
                                    failed=len(result.failures))
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    if qualities:
        _write_quality(cfg.out, qualities, rank)
    result.pending, result.merged = _merge_if_complete(cfg, names)
    return result


def _write_quality(out: Path, qualities: dict[str, dict], rank: int) -> None:
    path = out / "parts" / f"quality.{rank}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(qualities)
    atomic_json_dump(old, path)


def _merge_if_complete(cfg: ExtractConfig, names: list[str]) -> tuple[int, Path | None]:
    parts = [part_path(cfg.out, n) for n in names]
    pending = [n for n, p in zip(names, parts) if not p.exists() and not part_path(cfg.out, n, ".failed").exists()]
    if pending:
        return len(pending), None
    records = [safe_pickle_load(p) for p in parts if p.exists()]
    split = make_splits([r["frame_dir"] for r in records], cfg.dataset)
    target = cfg.out / "annotations.pkl"
    save_annotations(target, records, split)
    failures = {}
    for n in names:
        f = part_path(cfg.out, n, ".failed")
        if f.exists():
            failures[n] = json.loads(f.read_text())["reason"]
    atomic_json_dump(failures, cfg.out / "failures.json")
    qualities: dict[str, dict] = {}
    for q in sorted((cfg.out / "parts").glob("quality.*.json")):
        qualities.update(json.loads(q.read_text()))
    if qualities:
        atomic_json_dump(dict(summary=summarize_quality(qualities), samples=qualities),
                         cfg.out / "alignment_report.json")
    return 0, target


def summarize_quality(qualities: dict[str, dict]) -> dict[str, float]:
    """Mean of every numeric quality figure over the samples that have it."""
    keys = sorted({k for q in qualities.values() for k, v in q.items() if isinstance(v, (int, float))})
    out = {"samples": len(qualities)}
    for k in keys:
        vals = [q[k] for q in qualities.values() if isinstance(q.get(k), (int, float)) and np.isfinite(q[k])]
        if vals:
            out[k] = float(np.mean(vals))
    return out
