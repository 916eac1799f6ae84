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
decode, nobody in view, too short) is listed with its reason while the run goes on. It is a plug-in of the one
runner (pipeline/datasets/runner.py), so it has all of that runner's checks.

A clip's identity is its path relative to the folder, normalised (`x.mp4` and `sub/../x.mp4` are one clip,
and a clip named twice, by either path or through a link, is refused naming both rows); its part file name
carries a hash of that path, so no two clips can share one. Labels and splits are read anew on every run
and applied at the merge: correcting labels.csv and running the same command again rewrites
annotations.pkl without running the pose model, and says how many labels changed.
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from extract.fileio import one_line, printable
from extract.multiperson import default_workers

from pipeline.data.classes import check_class_names
from pipeline.datasets.runner import RunOptions, RunResult, Sample, SampleSource, run_source
from pipeline.data.video_records import build_record, map_tracks

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
LAYOUT = "ntu25"
MAX_PERSONS = 2
MIN_FRAMES = 8  # a clip with fewer frames (after decoding) is too short to learn an action from
# How clips are tracked: recorded in every record and in the manifest, and a part or a merged file made
# otherwise, or without the record (made by an older tracker), is made again. `crop_tracker` is the crop
# tracker's revision: raise it whenever the tracker follows people differently on the same frames (1: as of
# 2026-12-03, someone unconfirmed followed for 1 unseen frame; records from before it did not say; 2: as of
# 2026-12-07, every newly followed person gets a fresh landmarker, never one that followed someone else; 3: as
# of 2026-12-08, discovery and the followers of people lost for a while look at inference's rate, every 2nd frame
# of a 30 fps clip)
TRACKING = dict(every=1, max_width=960, crop_tracker=3)


@dataclass
class Clip:
    path: Path  # absolute
    name: str  # the clip's path relative to the folder, without extension: the record's frame_dir
    label: str
    person: str | None = None
    split: str | None = None
    where: str = ""  # where the clip was named (labels.csv line, or its folder), for messages


def clip_key(name: str) -> str:
    """The clip's part file stem: readable, and unique by a hash of its path (`a/b` and `a__b` differ)."""
    readable = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name.replace("/", "__"))[:80]
    return f"{readable}-{hashlib.sha1(name.encode()).hexdigest()[:10]}"


def _relative(root: Path, rel: str, where: str) -> tuple[Path, str]:
    """A labels.csv path -> (absolute path, its identity: the normalised path relative to the folder)."""
    norm = os.path.normpath(rel.replace("\\", "/"))
    if os.path.isabs(norm) or norm == ".." or norm.startswith("../"):
        raise ValueError(f"{where}: {rel!r} is not inside the folder (paths are relative to DATA_ROOT)")
    return root / norm, norm


def _read_table(table: Path, root: Path) -> list[Clip]:
    try:  # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark; newline='' takes CRLF
        with open(table, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            reader.fieldnames = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
            rows = list(reader)
            header = reader.fieldnames
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{table}: not a readable CSV ({one_line(e)})") from None
    if not {"path", "label"} <= set(header):
        raise ValueError(f"{table}: needs the columns path,label (optionally person, split); found "
                         f"{','.join(printable(h) for h in header) or 'no header'}")
    clips = []
    for i, row in enumerate(rows, start=2):
        where = f"{table}: line {i}"
        rel, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        if not rel and not label and not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line
        if not rel or not label:
            raise ValueError(f"{where}: empty path or label")
        split = (row.get("split") or "").strip() or None
        if split not in (None, "train", "val"):
            raise ValueError(f"{where}: split must be train or val, got {printable(split)!r}")
        path, norm = _relative(root, rel, where)
        clips.append(Clip(path, str(Path(norm).with_suffix("")), label, (row.get("person") or "").strip() or None,
                          split, where))
    return clips


def discover(root: Path, ignored: dict[str, str] | None = None) -> list[Clip]:
    """The labelled clips under `root` (labels.csv, else one sub-folder per label), sorted by name. Clips that
    will not be used (in no label folder, or not in labels.csv) go into `ignored` with the reason."""
    root = Path(root)
    ignored = {} if ignored is None else ignored
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: folder not found (DATA_ROOT must hold labels.csv or one folder per label)")
    table = root / "labels.csv"
    clips: list[Clip] = []
    if table.is_file():
        clips = _read_table(table, root)
        listed = {str(c.path) for c in clips}
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file() and str(path) not in listed:
                ignored[str(path.relative_to(root))] = "not in labels.csv"
    else:
        for path in sorted(root.iterdir()):
            if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
                ignored[path.name] = "lies directly in DATA_ROOT: put it in its label's folder (<label>/<clip>)"
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
                    clips.append(Clip(path, str(path.relative_to(root).with_suffix("")), folder.name,
                                      where=f"{root}: folder {folder.name}"))
    if not clips:
        raise ValueError(f"{root}: no labelled clip found (labels.csv, or <label>/<clip>"
                         f"{'|'.join(VIDEO_SUFFIXES)})")
    check_class_names(sorted({c.label for c in clips}), f"{table if table.is_file() else root}: labels")
    _refuse_twice(clips)
    return sorted(clips, key=lambda c: c.name)


def _refuse_twice(clips: list[Clip]) -> None:
    """One clip named twice (the same path, a path that differs only by its extension, or the same file
    through another path) is refused, naming both places."""
    by_name: dict[str, Clip] = {}
    by_file: dict[tuple[int, int], Clip] = {}
    for c in clips:
        other = by_name.get(c.name)
        if other is None:
            try:
                st = c.path.stat()
                other = by_file.get((st.st_dev, st.st_ino))
                by_file.setdefault((st.st_dev, st.st_ino), c)
            except OSError:  # a missing clip fails alone when it is extracted
                pass
        if other is not None:
            raise ValueError(f"{c.where}: {printable(c.name)!r} is the same clip as {other.where} "
                             f"({printable(other.name)!r}); name each clip once")
        by_name[c.name] = c


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


def clip_record(clip: Clip, label: int, threads: int = 1, discoverer=None) -> dict:
    """Pose + tracking over one clip -> its record (up to 2 persons, the one seen longest first).

    The landmarkers see every frame, decoded at inference's width (the record says so: `tracking`). Tracking
    every 2nd frame as inference does would halve the cost, and the model reads 30 fps clips at 15 fps anyway
    (`ResampleFps`), but it trained worse models twice (issue #24): `make bench-gmdcsa` fine-tuned 22 -> 19 of 23
    clips (2026-11-30, beside a tracker change), and on 2026-12-07, the tracker alone, GMDCSA24 leave one subject
    out, two seeds: 84 -> 80 of 92 clip tests (from scratch 23 -> 20 and 20 -> 19, fine-tuned 21 -> 20 and 20 -> 21;
    the main person followed in 90.6 % of the frames instead of 88.4 %, so it is not the coverage). Inference's
    shortest-track rule is not applied: a training clip may itself be shorter, and the persons seen longest are
    kept anyway. `threads` run the tracker's landmarkers side by side (see `tracker_threads`); they change its
    speed, not its result, and so does `discoverer`, an IMAGE-mode landmarker lent to the tracker
    (`extract.crop_tracking.discovery_landmarker`) so that a worker makes it once, not once per clip."""
    from extract import video as vio
    from extract.crop_tracking import track_poses

    info = vio.probe_video(clip.path)
    fps = float(info["fps"] or 0.0) or 30.0
    tracking = dict(TRACKING)
    poses = track_poses(vio.iter_frames(clip.path, max_width=TRACKING["max_width"]), fps,
                        full_size=(info["height"], info["width"]), workers=threads, every=TRACKING["every"],
                        discoverer=discoverer)
    if poses.frames < MIN_FRAMES:
        raise ValueError(f"{clip.path}: too short ({poses.frames} frames decoded, {MIN_FRAMES} needed)")
    if not poses.tracks:
        raise ValueError(f"{clip.path}: nobody found in any of its {poses.frames} frames")
    mapped = map_tracks(poses, LAYOUT)
    order = np.argsort(-mapped.present.sum(axis=1), kind="stable")[:MAX_PERSONS]
    rec = build_record(mapped, order, 0, poses.frames, clip.name, (poses.height, poses.width), LAYOUT)
    rec.update(label=label, fps=fps, total_frames=poses.frames, tracking=tracking)
    return rec


@dataclass
class VideoExtractConfig:
    data_root: Path
    out: Path
    workers: int = 1
    shard: tuple[int, int] = (0, 1)
    seed: int = 0
    keep_parts: bool = False


class VideoSource(SampleSource):
    """A folder of the user's clips: labels (and splits) are read from labels.csv or the folders on every run
    and applied at the merge, so a corrected label needs no new pose run."""

    dataset = "videos"
    unit = "clip"

    def __init__(self, cfg: VideoExtractConfig):
        self.cfg = cfg
        self.clips: dict[str, Clip] = {}
        self.names: list[str] = []
        self._discoverer = None

    def __getstate__(self):  # each worker makes its own discovery landmarker (models do not cross processes)
        return dict(self.__dict__, _discoverer=None)

    def samples(self, ignored: dict[str, str]) -> list[Sample]:
        clips = discover(self.cfg.data_root, ignored)
        self.clips = {c.name: c for c in clips}
        self.names = sorted({c.label for c in clips})
        return [Sample(c.name, clip_key(c.name), c) for c in clips]

    def make_record(self, sample: Sample) -> dict:
        if self._discoverer is None:
            from extract.crop_tracking import discovery_landmarker

            self._discoverer = discovery_landmarker()
        return clip_record(sample.data, self.names.index(sample.data.label), tracker_threads(self.cfg.workers),
                           self._discoverer)

    def label(self, sample: Sample, rec: dict) -> int:
        return self.names.index(self.clips[sample.name].label)

    def label_name(self, sample: Sample) -> str:
        return self.clips[sample.name].label

    def splits(self, present: list[Sample]) -> dict[str, list[str]]:
        clips = [self.clips[s.name] for s in present]
        return assign_splits(clips, self.cfg.seed)

    def extra(self) -> dict:
        return dict(label_names=self.names)

    def part_ok(self, rec: dict) -> bool:
        return rec.get("tracking") == TRACKING

    def made_by(self) -> dict:
        return dict(super().made_by(), tracking=TRACKING)

    def warnings(self) -> list[str]:
        clips = list(self.clips.values())
        return split_warnings(clips, assign_splits(clips, self.cfg.seed), self.names)


def run_videos(cfg: VideoExtractConfig, progress: bool = True) -> RunResult:
    """Extract this shard's clips (resuming), then merge when every clip is settled; returns a RunResult."""
    opts = RunOptions(cfg.out, cfg.workers, cfg.shard, cfg.keep_parts, progress)
    return run_source(VideoSource(cfg), opts, describe_root=str(cfg.data_root))


def tracker_threads(processes: int) -> int:
    """Landmarker threads per extraction process: the cores shared out among the processes (at most 2 each).

    One process tracking with a single thread left a core idle while its discovery and followers waited on
    each other (issue #24, arm-wrestling clip, one process on 2 cores: 0.66x the landmarker alone with one
    thread, 0.80x with two)."""
    return min(default_workers(), max(1, (os.cpu_count() or 1) // max(1, processes)))
