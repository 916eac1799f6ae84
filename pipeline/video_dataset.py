"""A folder of the user's own labelled clips -> annotations.pkl (+ store): `make extract DATASET=videos`.

The folder holds either `labels.csv` (columns `path,label`, optionally `person`, `split` = train/val; paths
relative to the folder) or one sub-folder per label (`<label>/<clip>.<mp4|avi|mov|mkv|webm>`). Each clip goes
through the same detector and tracker as video inference (extract/multiperson.py) and becomes a record like
NTU's: `keypoint` (M, T, 25, 3) the estimator's 3D joints in Kinect axes (metres), `pose_keypoint` (M, T, 25, 2)
pixels, `pose_score`, `pose_world`, `fps`, `img_shape`, `layout='ntu25'`, with up to 2 persons, the one seen
longest first. The file carries `label_names` (index = label), so a model trained on it knows its classes.

Splits `train` / `val`: the `split` column when present; else whole persons held out (`person` column,
about 20 % of them, deterministic); else a seeded 80/20 split stratified by label. Like NTU extraction it
is resumable (one part per clip), parallel (WORKERS) and sharded (SHARD=i/n), and a clip that fails (no
decode, nobody in view, too short) is listed with its reason while the run goes on.
"""
from __future__ import annotations

import csv
import hashlib
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from extract.fileio import atomic_json_dump, atomic_pickle_dump, one_line, remove_stale_temps, safe_pickle_load

from .annotations import stream_annotations
from .extraction import RunResult, merged_names, read_failures, refuse_new_after_merge
from .store import StoreWriter, fingerprint, store_path
from .video_records import build_record, map_tracks

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
LAYOUT = "ntu25"
MAX_PERSONS = 2
MIN_FRAMES = 8  # a clip with fewer frames (after decoding) is too short to learn an action from


@dataclass
class Clip:
    path: Path  # absolute
    name: str  # the clip's path relative to the folder, without extension: the record's frame_dir
    label: str
    person: str | None = None
    split: str | None = None


def discover(root: Path) -> list[Clip]:
    """The labelled clips under `root` (labels.csv, else one sub-folder per label), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: folder not found (DATA_ROOT must hold labels.csv or one folder per label)")
    table = root / "labels.csv"
    clips: list[Clip] = []
    if table.is_file():
        try:
            with open(table, newline="") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"{table}: not a readable CSV ({one_line(e)})") from None
        if not rows or not {"path", "label"} <= set(rows[0]):
            raise ValueError(f"{table}: needs the columns path,label (optionally person, split)")
        for i, row in enumerate(rows, start=2):
            rel, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
            if not rel or not label:
                raise ValueError(f"{table}: line {i}: empty path or label")
            split = (row.get("split") or "").strip() or None
            if split not in (None, "train", "val"):
                raise ValueError(f"{table}: line {i}: split must be train or val, got {split!r}")
            path = (root / rel).resolve()
            clips.append(Clip(path, str(Path(rel).with_suffix("")), label, (row.get("person") or "").strip() or None,
                              split))
    else:
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
                    clips.append(Clip(path, str(path.relative_to(root).with_suffix("")), folder.name))
    if not clips:
        raise ValueError(f"{root}: no labelled clip found (labels.csv, or <label>/<clip>"
                         f"{'|'.join(VIDEO_SUFFIXES)})")
    names = [c.name for c in clips]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"{root}: two clips share the name {dup!r} (paths must differ beyond their extension)")
    return sorted(clips, key=lambda c: c.name)


def assign_splits(clips: list[Clip], seed: int = 0) -> dict[str, list[str]]:
    """{'train': [...], 'val': [...]} by the split column, else by person, else stratified 80/20 (seeded)."""
    if any(c.split for c in clips):
        missing = [c.name for c in clips if not c.split]
        if missing:
            raise ValueError(f"labels.csv gives a split for some clips but not for {missing[0]}")
        val = {c.name for c in clips if c.split == "val"}
    elif any(c.person for c in clips):
        persons = sorted({c.person or "" for c in clips})
        ranked = sorted(persons, key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
        held = set(ranked[:max(1, round(0.2 * len(persons)))]) if len(persons) > 1 else set()
        val = {c.name for c in clips if (c.person or "") in held}
    else:
        rng = np.random.default_rng(seed)
        val = set()
        for label in sorted({c.label for c in clips}):
            members = [c.name for c in clips if c.label == label]
            k = int(round(0.2 * len(members))) if len(members) >= 2 else 0
            val.update(rng.permutation(members)[:k].tolist())
    return dict(train=[c.name for c in clips if c.name not in val], val=[c.name for c in clips if c.name in val])


def split_warnings(clips: list[Clip], split: dict[str, list[str]], names: list[str]) -> list[str]:
    """Classes with fewer than 2 clips, and splits that miss a class, by name."""
    out = []
    labels = {c.name: c.label for c in clips}
    for label in names:
        n = sum(1 for c in clips if c.label == label)
        if n < 2:
            out.append(f"class {label!r} has only {n} clip(s)")
    for part, members in split.items():
        missing = sorted(set(names) - {labels[m] for m in members})
        if members and missing:
            out.append(f"split {part!r} has no clip of {', '.join(map(repr, missing))}")
    return out


def clip_record(clip: Clip, label: int, workers: int = 1) -> dict:
    """Pose + tracking over one clip -> its record (up to 2 persons, the one seen longest first)."""
    from extract import video as vio
    from extract.crop_tracking import track_poses

    info = vio.probe_video(clip.path)
    fps = float(info["fps"] or 0.0) or 30.0
    poses = track_poses(vio.iter_frames(clip.path, max_width=960), fps, full_size=(info["height"], info["width"]),
                        workers=workers)
    if poses.frames < MIN_FRAMES:
        raise ValueError(f"{clip.path}: too short ({poses.frames} frames decoded, {MIN_FRAMES} needed)")
    if not poses.tracks:
        raise ValueError(f"{clip.path}: nobody found in any of its {poses.frames} frames")
    mapped = map_tracks(poses, LAYOUT)
    order = np.argsort(-mapped.present.sum(axis=1), kind="stable")[:MAX_PERSONS]
    rec = build_record(mapped, order, 0, poses.frames, clip.name, (poses.height, poses.width), LAYOUT)
    rec.update(label=label, fps=fps, total_frames=poses.frames)
    return rec


@dataclass
class VideoExtractConfig:
    data_root: Path
    out: Path
    workers: int = 1
    shard: tuple[int, int] = (0, 1)
    seed: int = 0
    keep_parts: bool = False


def _part(out: Path, name: str, suffix: str = ".pkl") -> Path:
    return out / "parts" / (name.replace("/", "__") + suffix)


def _work(args: tuple[Clip, int, str]) -> tuple[str, str | None, int]:
    clip, label, out = args
    failed = _part(Path(out), clip.name, ".failed")
    try:
        rec = clip_record(clip, label)
        atomic_pickle_dump(rec, _part(Path(out), clip.name))
        failed.unlink(missing_ok=True)
        return clip.name, None, rec["total_frames"]
    except Exception as e:  # one bad clip must not stop the run
        reason = one_line(e)
        atomic_json_dump(dict(sample=clip.name, reason=reason), failed)
        return clip.name, reason, 0


def run_videos(cfg: VideoExtractConfig, progress: bool = True):
    """Extract this shard's clips (resuming), then merge when every clip is settled; returns a RunResult."""
    from tqdm import tqdm

    clips = discover(cfg.data_root)
    names = sorted({c.label for c in clips})
    labels = {n: i for i, n in enumerate(names)}
    split = assign_splits(clips, cfg.seed)
    for w in split_warnings(clips, split, names):
        print(f"warning: {w}")
    if cfg.out.exists() and not cfg.out.is_dir():
        raise ValueError(f"{cfg.out}: OUT exists and is not a folder")
    (cfg.out / "parts").mkdir(parents=True, exist_ok=True)
    for folder in (cfg.out, cfg.out / "parts"):
        remove_stale_temps(folder)
    rank, world = cfg.shard
    result = RunResult()
    todo = []
    merged = merged_names(cfg.out)
    for clip in clips[rank::world]:
        if clip.name in merged or _part(cfg.out, clip.name).exists():
            result.skipped.append(clip.name)
        else:
            todo.append(clip)
    refuse_new_after_merge(cfg.out, merged, todo)
    if merged and not todo:
        result.merged = cfg.out / "annotations.pkl"
        return result
    jobs = [(c, labels[c.label], str(cfg.out)) for c in todo]
    start = time.perf_counter()
    with tqdm(total=len(jobs), unit="clip", desc=f"extract videos shard {rank}/{world}", disable=not progress) as bar:
        if cfg.workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(cfg.workers) as pool:
                results = list(_progress(pool.map(_work, jobs), bar, start))
        else:
            results = list(_progress(map(_work, jobs), bar, start))
    for name, error, _ in results:
        if error:
            result.failures[name] = error
        else:
            result.done.append(name)
    pending = [c.name for c in clips if not _part(cfg.out, c.name).exists()
               and not _part(cfg.out, c.name, ".failed").exists()]
    result.pending = len(pending)
    if not pending:
        result.merged = _merge(cfg, clips, names, split)
    return result


def _progress(results, bar, start):
    frames = 0
    for item in results:
        frames += item[2]
        bar.update(1)
        bar.set_postfix(frames_s=f"{frames / max(time.perf_counter() - start, 1e-9):.1f}", refresh=False)
        yield item


def _merge(cfg: VideoExtractConfig, clips: list[Clip], names: list[str], split: dict) -> Path | None:
    failures = read_failures({c.name: _part(cfg.out, c.name, ".failed") for c in clips})
    atomic_json_dump(failures, cfg.out / "failures.json")
    present = [c.name for c in clips if _part(cfg.out, c.name).exists()]
    if not present:
        return None
    split = {k: [n for n in v if n in set(present)] for k, v in split.items()}
    target = cfg.out / "annotations.pkl"
    store = StoreWriter(store_path(target))

    def records():
        for name in present:
            rec = safe_pickle_load(_part(cfg.out, name))
            store.add(rec)
            yield rec

    try:
        stream_annotations(target, split, records(), extra=dict(label_names=names))
        store.close(split, source=fingerprint(target), label_names=names)
    except BaseException:
        store.abort()
        raise
    atomic_json_dump(dict(samples=len(present), dataset="videos", label_names=names, names=present),
                     cfg.out / "annotations.json")
    if not cfg.keep_parts and not failures:
        shutil.rmtree(cfg.out / "parts", ignore_errors=True)
    return target


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
