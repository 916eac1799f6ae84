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
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.annotations import build_ntu_record, stream_annotations
from extract.fileio import atomic_json_dump, atomic_pickle_dump, one_line, remove_stale_temps, safe_pickle_load
from pipeline.ntu_names import in_dataset, make_splits, missing_skeletons, parse_sample_name
from pipeline.store import StoreWriter, fingerprint, store_path

SKELETON_DIR = "nturgb+d_skeletons"
RGB_DIR = "nturgb+d_rgb"
QUALITY_KEY = "_quality"  # a part's alignment figures, kept with the sample (resume keeps them) until the merge
MANIFEST = "annotations.json"  # what the last merge wrote: the yardstick a new merge must not fall below


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
    min_frame_ratio: float = 0.9  # decoded RGB frames / skeleton frames below this fail the sample
    keep_parts: bool = False  # keep parts/ after the merge (else removed: it is as large as the result)


@dataclass
class RunResult:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)  # files under DATA_ROOT that are no sample, and why
    failures: dict[str, str] = field(default_factory=dict)
    merged: Path | None = None
    pending: int = 0


def parse_shard(text: str | None) -> tuple[int, int]:
    """'i/n' -> (i, n); None -> from RANK / WORLD_SIZE (torchrun) or (0, 1)."""
    if text is None:
        world, rank = os.environ.get("WORLD_SIZE", "1"), os.environ.get("RANK", "0")
        where = f"RANK={rank} WORLD_SIZE={world} (from the environment)"
    else:
        rank, _, world = text.partition("/")
        where = f"--shard {text}"
    try:
        i, n = int(rank), int(world)
    except ValueError:
        raise ValueError(f"{where}: expected integers i/n (e.g. 0/8)") from None
    if not 0 <= i < n:
        raise ValueError(f"{where}: need 0 <= i < n")
    return i, n


def list_samples(cfg: ExtractConfig, ignored: dict[str, str] | None = None) -> list[str]:
    """Sample names of the dataset found under DATA_ROOT, missing-skeleton samples excluded, sorted.
    Every other file there goes into `ignored` with the reason."""
    skel_dir = cfg.data_root / SKELETON_DIR
    if not skel_dir.is_dir():
        raise FileNotFoundError(f"{skel_dir}: folder not found (DATA_ROOT must hold {SKELETON_DIR}/ and {RGB_DIR}/)")
    ignored = {} if ignored is None else ignored
    missing = missing_skeletons(cfg.dataset)
    names = []
    for p in skel_dir.iterdir():
        if p.suffix != ".skeleton":
            ignored[p.name] = "not a .skeleton file"
            continue
        try:
            name = parse_sample_name(p.name)
        except ValueError:
            ignored[p.name] = "not an NTU sample name (SsssCcccPpppRrrrAaaa.skeleton)"
            continue
        if not p.is_file():
            ignored[p.name] = "not a file"
        elif not in_dataset(name, cfg.dataset):
            ignored[p.name] = f"not part of {cfg.dataset}"
        elif str(name) in missing:
            ignored[p.name] = "on the dataset authors' list of samples with missing skeletons"
        else:
            names.append(str(name))
    names.sort()
    return names[: cfg.limit] if cfg.limit else names


def part_path(out: Path, name: str, suffix: str = ".pkl") -> Path:
    return out / "parts" / f"{name}{suffix}"


def _part_ok(path: Path, pose: str) -> bool:
    """A readable part that has what this run asks for (a skeleton-only part does not do for a pose run)."""
    try:
        rec = safe_pickle_load(path)
    except (FileNotFoundError, ValueError):
        return False
    return isinstance(rec, dict) and "keypoint" in rec and (pose == "none" or "pose_source" in rec)


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
    return estimate_sample_pose(video, record, _WORKER["estimator"], min_frame_ratio=cfg.min_frame_ratio)


def process_sample(name: str) -> tuple[str, str | None, int]:
    """Build one sample's record (+ pose, + its alignment figures); write its part.
    Returns (name, error, frames)."""
    cfg: ExtractConfig = _WORKER["cfg"]
    failed = part_path(cfg.out, name, ".failed")
    try:
        record = build_ntu_record(cfg.data_root / SKELETON_DIR / f"{name}.skeleton")
        if cfg.pose != "none":
            video = cfg.data_root / RGB_DIR / f"{name}_rgb.avi"
            if not video.is_file():
                raise FileNotFoundError(f"{video}: RGB video not found")
            pose = _estimate(video, record)
            quality = pose.pop("quality", None)
            record.update(pose)
            if quality is not None:
                record[QUALITY_KEY] = quality
        atomic_pickle_dump(record, part_path(cfg.out, name))
        failed.unlink(missing_ok=True)
        return name, None, int(record["total_frames"])
    except Exception as e:  # a bad sample must not stop the run
        reason = one_line(e)
        atomic_json_dump(dict(sample=name, reason=reason), failed)
        return name, reason, 0


# --- the driver --------------------------------------------------------------------------------
def run(cfg: ExtractConfig, pose_fn: Callable | None = None, progress: bool = True) -> RunResult:
    """Extract this shard's samples (resuming), then merge if every sample of the dataset is settled.

    pose_fn(video_path, record) -> dict replaces the real pose backend (tests inject a fake one).
    """
    from tqdm import tqdm

    if cfg.limit is not None and cfg.limit <= 0:
        raise ValueError(f"--limit must be positive, got {cfg.limit}")
    if not 0 < cfg.min_frame_ratio <= 1:
        raise ValueError(f"--min-frame-ratio must be in (0, 1], got {cfg.min_frame_ratio}")
    if cfg.out.exists() and not cfg.out.is_dir():
        raise ValueError(f"{cfg.out}: OUT exists and is not a folder")
    result = RunResult()
    names = list_samples(cfg, result.ignored)
    if not names:
        raise ValueError(f"{cfg.data_root / SKELETON_DIR}: no {cfg.dataset} sample to extract "
                         f"({_ignored_summary(result.ignored)}); nothing was written")
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "parts").mkdir(exist_ok=True)
    for folder in (cfg.out, cfg.out / "parts"):
        remove_stale_temps(folder)
    rank, world = cfg.shard
    mine = names[rank::world]
    merged = merged_names(cfg.out, cfg.pose)
    todo = []
    for name in mine:
        if name in merged or (part_path(cfg.out, name).exists() and _part_ok(part_path(cfg.out, name), cfg.pose)):
            result.skipped.append(name)
        else:
            todo.append(name)
    refuse_new_after_merge(cfg.out, merged, todo)
    if merged and len(merged) >= len(names) and not todo:
        result.merged = cfg.out / "annotations.pkl"
        return result
    estimator = None
    if todo and pose_fn is None and cfg.pose != "none":
        from extract.backends import build_estimator

        # Once, up front: a bad POSE_CONFIG/POSE_CHECKPOINT or a missing extra stops the run with one
        # message instead of failing every sample. Workers build their own (models do not cross processes).
        estimator = build_estimator(cfg.pose, config=cfg.pose_config, checkpoint=cfg.pose_checkpoint)
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
            for name, error, n_frames in results:
                if error:
                    result.failures[name] = error
                else:
                    result.done.append(name)
                    frames += n_frames
                bar.update(1)
                if cfg.pose != "none":
                    bar.set_postfix(frames_s=f"{frames / max(time.perf_counter() - start, 1e-9):.1f}",
                                    failed=len(result.failures))
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    if result.ignored:
        atomic_json_dump(result.ignored, cfg.out / "ignored.json")
    result.pending, result.merged = _merge_if_complete(cfg, names)
    return result


def _ignored_summary(ignored: dict[str, str]) -> str:
    if not ignored:
        return "the folder holds no .skeleton file"
    shown = "; ".join(f"{n}: {why}" for n, why in sorted(ignored.items())[:3])
    return f"{len(ignored)} file(s) ignored, e.g. {shown}"


def _merge_if_complete(cfg: ExtractConfig, names: list[str]) -> tuple[int, Path | None]:
    """Merge the parts into annotations.pkl and its sample store once every sample is extracted or failed.

    Streaming: one part at a time goes into both files (memory flat in the number of samples). A damaged
    part (another shard's, or a disk error) is removed and reported, so that a re-run extracts it anew; a
    merge with fewer samples than the annotations.pkl it would replace is refused. parts/ is removed after
    merge of every sample (no failures) unless `keep_parts`."""
    parts = [part_path(cfg.out, n) for n in names]
    pending = [n for n, p in zip(names, parts) if not p.exists() and not part_path(cfg.out, n, ".failed").exists()]
    if pending:
        return len(pending), None
    failures = read_failures({n: part_path(cfg.out, n, ".failed") for n in names})
    atomic_json_dump(failures, cfg.out / "failures.json")
    present = [n for n, p in zip(names, parts) if p.exists()]
    if not present:  # every sample failed: there is nothing to write, and nothing good is replaced
        return 0, None
    target = cfg.out / "annotations.pkl"
    before = _manifest(cfg.out).get("samples", 0) if target.exists() else 0
    if len(present) < before:
        raise ValueError(f"{target}: holds {before} samples; this run has only {len(present)} and would "
                         f"replace it with less (use another OUT, or remove the file to start over)")
    split = make_splits(present, cfg.dataset)
    qualities: dict[str, dict] = {}

    def records():
        for name in present:
            path = part_path(cfg.out, name)
            try:
                rec = safe_pickle_load(path)
                if not isinstance(rec, dict) or rec.get("frame_dir") != name:
                    raise ValueError(f"{path}: not the record of {name}")
            except ValueError as e:
                path.unlink(missing_ok=True)
                raise DamagedPart(f"{e}; the part was removed: run the same command again to extract it anew")
            if QUALITY_KEY in rec:
                qualities[name] = rec.pop(QUALITY_KEY)
            store.add(rec)
            yield rec

    store = StoreWriter(store_path(target))
    try:
        stream_annotations(target, split, records())
        store.close(split, source=fingerprint(target))
    except BaseException as e:
        store.abort()
        if isinstance(e, DamagedPart):
            raise ValueError(str(e)) from None
        raise
    atomic_json_dump(dict(samples=len(present), dataset=cfg.dataset, pose=cfg.pose, names=present),
                     cfg.out / MANIFEST)
    if qualities:
        atomic_json_dump(dict(summary=summarize_quality(qualities), samples=qualities),
                         cfg.out / "alignment_report.json")
    if not cfg.keep_parts and not failures:  # with failures, parts/ stays: a re-run retries them and merges again
        shutil.rmtree(cfg.out / "parts", ignore_errors=True)
    return 0, target


class DamagedPart(Exception):
    """A part that cannot be read at the merge (carried out of the record stream)."""


def merged_names(out: Path, pose: str | None = None) -> set[str]:
    """Samples already in a merged annotations.pkl of this OUT whose parts/ are gone (a finished run; with
    `pose`, only when it was extracted with that backend). Shared by NTU and video-folder extraction."""
    manifest = _manifest(out)
    if (out / "parts").is_dir() and any((out / "parts").iterdir()):
        return set()
    if not (out / "annotations.pkl").exists() or manifest.get("pose") not in (pose, None):
        return set()
    return set(manifest.get("names") or ())


def refuse_new_after_merge(out: Path, merged: set[str], todo: list) -> None:
    """New samples cannot join a merged run whose parts are gone: say so before any work."""
    if merged and todo:
        first = getattr(todo[0], "name", todo[0])
        raise ValueError(f"{out}: holds a merged annotations.pkl whose parts/ were removed, and {len(todo)} "
                         f"sample(s) are new (e.g. {first}); extract into a new OUT, or keep parts with "
                         f"KEEP_PARTS=1 next time")


def read_failures(failed: dict[str, Path]) -> dict[str, str]:
    """{sample: reason} from the `.failed` files that exist among `failed` (name -> path)."""
    out = {}
    for name, path in failed.items():
        if path.exists():
            try:
                out[name] = json.loads(path.read_text())["reason"]
            except (ValueError, KeyError, TypeError, OSError):
                out[name] = "failed (its .failed file is unreadable)"
    return out


def _manifest(out: Path) -> dict:
    try:
        data = json.loads((out / MANIFEST).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def summarize_quality(qualities: dict[str, dict]) -> dict[str, float]:
    """Mean of every numeric quality figure over the samples that have it."""
    keys = sorted({k for q in qualities.values() for k, v in q.items() if isinstance(v, (int, float))})
    out = {"samples": len(qualities)}
    for k in keys:
        vals = [q[k] for q in qualities.values() if isinstance(q.get(k), (int, float)) and np.isfinite(q[k])]
        if vals:
            out[k] = float(np.mean(vals))
    return out
