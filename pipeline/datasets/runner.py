"""The one dataset-scale extraction runner behind `make extract`: NTU, a folder of your own clips, and the
NW-UCLA import plug into it (datasets/ntu/source.py, datasets/videos.py, datasets/nwucla.py).

Why it is built this way (NTU-120 is 114,480 videos, about 11 million frames):
- Resumable: each sample's record is written atomically on its own (`parts/<key>.pkl`), a failure as
  `parts/<key>.failed` (JSON with the reason). A re-run skips finished samples and retries failed ones;
  killing the run loses at most the samples in flight, and a half-written part cannot exist (temp + rename).
- Parallel and distributed without cluster code of our own: WORKERS processes on one machine, and
  `--shard i/n` (or RANK / WORLD_SIZE from torchrun) picks every n-th sample, so a cluster array job or
  `torchrun --nproc_per_node=8 tools/extract_dataset.py ...` splits the work. The run that finds every sample done
  (the last shard, or any re-run) merges the parts into annotations.pkl, atomically.
- A bad file fails its sample with a reason; the run goes on, lists the failures at the end and exits
  non-zero.
- A second run is checked, not trusted: a part is reused only when it is the record of the sample it is
  filed under (part names of clips carry a hash of the clip's path, so `a/b.mp4` and `a__b.mp4` cannot share
  one), two runs on one shard of one OUT are refused by a lock ("another extraction is writing OUT (pid N)"),
  a damaged part is removed and reported at the merge, and a merge with fewer samples than the
  annotations.pkl it would replace is refused.
- Labels are applied at the merge, from what the dataset says now (NTU: the file name; your clips:
  labels.csv or the folder), so a corrected label reaches annotations.pkl on the next run without running
  the pose model again, and the run says how many labels changed (`RunResult.relabelled`).

A dataset plugs in with a small `SampleSource`: list the samples, make one sample's record, label it, split.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from extract.fileio import atomic_json_dump, atomic_pickle_dump, one_line, remove_stale_temps, safe_pickle_load
from pipeline.data.annotations import stream_annotations
from pipeline.datasets.lock import hold_lock
from pipeline.data.store import StoreWriter, fingerprint, store_path

QUALITY_KEY = "_quality"  # a part's alignment figures, kept with the sample (resume keeps them) until the merge
NAME = "annotations"  # OUT/<name>.pkl, its store <name>.store/ and its manifest <name>.json


@dataclass(frozen=True)
class Sample:
    """One sample as the runner sees it: `name` is the record's frame_dir, `key` its part file's stem."""

    name: str
    key: str
    data: Any = None  # what the dataset's piece needs to make the record (a path, a Clip)


class SampleSource:
    """One dataset's piece of the runner. Subclasses list the samples and make one record; the rest (shards,
    parts, resume, lock, merge and every check) is the runner's."""

    dataset = "?"
    unit = "file"

    def samples(self, ignored: dict[str, str]) -> list[Sample]:
        """The dataset's samples, sorted by name; every other file under the root goes into `ignored`."""
        raise NotImplementedError

    def make_record(self, sample: Sample) -> dict:
        """The sample's record (runs in a worker process)."""
        raise NotImplementedError

    def part_ok(self, rec: dict) -> bool:
        """A part this run may reuse as it is (e.g. a skeleton-only part does not do for a pose run)."""
        return True

    def label(self, sample: Sample, rec: dict) -> int:
        """The sample's label now (applied at every merge)."""
        return int(rec["label"])

    def label_name(self, sample: Sample) -> str | None:
        """The sample's label as a name, for a dataset whose labels the user can correct (labels.csv): the
        manifest records them and a re-run reports how many changed. None where the name fixes the label."""
        return None

    def prepare(self, todo: list[Sample]) -> None:
        """Before any sample is made (in this process): fail fast on what would fail every sample."""

    def splits(self, present: list[Sample]) -> dict[str, list[str]]:
        raise NotImplementedError

    def extra(self) -> dict:
        """Extra top-level keys of annotations.pkl (label_names for your own clips)."""
        return {}

    def made_by(self) -> dict:
        """What made this OUT, recorded in its manifest."""
        return dict(dataset=self.dataset)

    def warnings(self) -> list[str]:
        return []


@dataclass
class RunOptions:
    out: Path
    workers: int = 1
    shard: tuple[int, int] = (0, 1)
    keep_parts: bool = False  # keep parts/ after the merge (else removed: it is as large as the result)
    progress: bool = True
    name: str = NAME  # the merged file is OUT/<name>.pkl; its manifest, <name>.json, records what the merge wrote


@dataclass
class RunResult:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)  # files under DATA_ROOT that are no sample, and why
    failures: dict[str, str] = field(default_factory=dict)
    merged: Path | None = None
    pending: int = 0
    up_to_date: bool = False  # nothing to extract and annotations.pkl already says what the dataset says
    relabelled: int = 0  # samples whose label differs from the last merge (labels corrected by the user)
    warnings: list[str] = field(default_factory=list)


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


def part_path(out: Path, key: str, suffix: str = ".pkl") -> Path:
    return out / "parts" / f"{key}{suffix}"


# --- work done in each worker process ------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(source: SampleSource, out: Path) -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")
    _WORKER.clear()
    _WORKER.update(source=source, out=out)


def process_sample(sample: Sample) -> tuple[str, str | None, int]:
    """Make one sample's record and write its part. Returns (name, error, frames)."""
    source: SampleSource = _WORKER["source"]
    out: Path = _WORKER["out"]
    failed = part_path(out, sample.key, ".failed")
    try:
        record = source.make_record(sample)
        atomic_pickle_dump(record, part_path(out, sample.key))
        failed.unlink(missing_ok=True)
        return sample.name, None, int(record.get("total_frames") or 0)
    except Exception as e:  # a bad sample must not stop the run
        reason = one_line(e)
        atomic_json_dump(dict(sample=sample.name, reason=reason), failed)
        return sample.name, reason, 0


# --- the driver --------------------------------------------------------------------------------
def run_source(source: SampleSource, opts: RunOptions, describe_root: str = "DATA_ROOT") -> RunResult:
    """Extract this shard's samples (resuming), then merge if every sample of the dataset is settled."""
    from tqdm import tqdm

    out = opts.out
    if opts.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {opts.workers}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: OUT exists and is not a folder")
    result = RunResult()
    samples = source.samples(result.ignored)
    result.warnings = source.warnings()
    if not samples:
        raise ValueError(f"{describe_root}: no {source.dataset} sample to extract "
                         f"({_ignored_summary(result.ignored)}); nothing was written")
    _refuse_colliding_keys(samples)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    rank, world = opts.shard
    with hold_lock(out / f".extract-{rank}-of-{world}.lock", f"another extraction is writing {out}"):
        for folder in (out, out / "parts"):
            remove_stale_temps(folder)
        mine = samples[rank::world]
        merged = merged_names(out, source.made_by(), opts.name)
        todo = []
        for s in mine:
            if s.name in merged or _part_ok(source, part_path(out, s.key), s):
                result.skipped.append(s.name)
            else:
                todo.append(s)
        refuse_new_after_merge(out, merged, todo)
        if result.ignored:
            atomic_json_dump(result.ignored, out / "ignored.json")
        if not (merged and not todo):
            if todo:
                source.prepare(todo)
            _extract(source, opts, todo, result, tqdm)
    with hold_lock(out / ".merge.lock", f"another extraction is merging {out}", wait=True):
        result.pending, result.merged = _merge_if_complete(source, opts, samples, result)
    return result


def _extract(source: SampleSource, opts: RunOptions, todo: list[Sample], result: RunResult, tqdm) -> None:
    rank, world = opts.shard
    frames = 0
    start = time.perf_counter()
    bar = tqdm(total=len(todo), unit=source.unit, desc=f"extract {source.dataset} shard {rank}/{world}",
               disable=not opts.progress, dynamic_ncols=True)
    with bar:
        if opts.workers <= 1 or len(todo) <= 1:
            _init_worker(source, opts.out)
            results = map(process_sample, todo)
            pool = None
        else:
            # spawned, not forked: a caller that already runs threads (mediapipe's, a prefetching decoder) and
            # forks its workers can corrupt their heap (seen: `malloc(): unaligned tcache chunk detected` in a
            # worker forked after a landmarker had run in the parent)
            pool = ProcessPoolExecutor(opts.workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(source, opts.out))
            results = pool.map(process_sample, todo, chunksize=1)
        try:
            for name, error, n_frames in results:
                if error:
                    result.failures[name] = error
                else:
                    result.done.append(name)
                    frames += n_frames
                bar.update(1)
                bar.set_postfix(frames_s=f"{frames / max(time.perf_counter() - start, 1e-9):.1f}",
                                failed=len(result.failures), refresh=False)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)


def _part_ok(source: SampleSource, path: Path, sample: Sample) -> bool:
    """A readable part that is this sample's record and has what this run asks for."""
    if not path.exists():
        return False
    try:
        rec = safe_pickle_load(path)
    except (FileNotFoundError, ValueError):
        return False
    return (isinstance(rec, dict) and "keypoint" in rec and rec.get("frame_dir") == sample.name
            and source.part_ok(rec))


def _refuse_colliding_keys(samples: list[Sample]) -> None:
    seen: dict[str, str] = {}
    for s in samples:
        if s.key in seen:
            raise ValueError(f"samples {seen[s.key]!r} and {s.name!r} would share the part file {s.key}")
        seen[s.key] = s.name


def _ignored_summary(ignored: dict[str, str]) -> str:
    if not ignored:
        return "the folder holds no sample file"
    shown = "; ".join(f"{n}: {why}" for n, why in sorted(ignored.items())[:3])
    return f"{len(ignored)} file(s) ignored, e.g. {shown}"


def _merge_if_complete(source: SampleSource, opts: RunOptions, samples: list[Sample],
                       result: RunResult) -> tuple[int, Path | None]:
    """Merge into annotations.pkl and its sample store once every sample is extracted or failed.

    Streaming: one record at a time goes into both files (memory flat in the number of samples). Records come
    from parts/, or, when a finished run's parts are gone, from the annotations.pkl it merged (only labels and
    splits can have changed then). A damaged part is removed and reported, so that a re-run extracts it
    anew; a merge with fewer samples than the file it would replace is refused. parts/ is removed after a
    merge of every sample (no failures) unless `keep_parts`."""
    out = opts.out
    target = out / f"{opts.name}.pkl"
    manifest = _manifest(out, opts.name)
    merged = merged_names(out, source.made_by(), opts.name)
    from_merged = bool(merged) and all(s.name in merged for s in samples)
    failures: dict[str, str] = {}
    if from_merged:
        present = samples
    else:
        pending = [s for s in samples if not part_path(out, s.key).exists()
                   and not part_path(out, s.key, ".failed").exists()]
        if pending:
            return len(pending), None
        failures = read_failures({s.name: part_path(out, s.key, ".failed") for s in samples})
        atomic_json_dump(failures, out / "failures.json")
        present = [s for s in samples if part_path(out, s.key).exists()]
        if not present:  # every sample failed: there is nothing to write, and nothing good is replaced
            return 0, None
    before = manifest.get("samples", 0) if target.exists() else 0
    if len(present) < before:
        raise ValueError(f"{target}: holds {before} samples; this run has only {len(present)} and would "
                         f"replace it with less (use another OUT, or remove the file to start over)")
    split = _plain(source.splits(present))
    labels = {s.name: source.label_name(s) for s in present}
    if all(v is None for v in labels.values()):
        labels = None
    old_labels = manifest.get("labels") or {}
    result.relabelled = sum(1 for n, lab in (labels or {}).items() if n in old_labels and old_labels[n] != lab)
    extra = source.extra()
    if (from_merged and manifest.get("split") == split and (labels is None or old_labels == labels)
            and manifest.get("extra", {}) == _plain(extra)):
        result.up_to_date = True
        return 0, target
    if from_merged:  # only labels or splits changed: the records come from the file itself, no pose run
        old = _records_of(target)
        records_in: Iterator[dict] = (old[s.name] for s in present)
    else:
        records_in = (_read_part(out, s) for s in present)
    qualities: dict[str, dict] = {}

    def records() -> Iterator[dict]:
        for s, rec in zip(present, records_in):
            if QUALITY_KEY in rec:
                qualities[s.name] = rec.pop(QUALITY_KEY)
            rec["label"] = source.label(s, rec)
            store.add(rec)
            yield rec

    store = StoreWriter(store_path(target))
    try:
        stream_annotations(target, split, records(), extra=extra or None)
        store.close(split, source=fingerprint(target), label_names=extra.get("label_names"))
    except BaseException as e:
        store.abort()
        if isinstance(e, DamagedPart):
            raise ValueError(str(e)) from None
        raise
    atomic_json_dump(dict(samples=len(present), **source.made_by(), names=[s.name for s in present],
                          split=split, labels=labels, extra=_plain(extra)), out / f"{opts.name}.json")
    if qualities:
        atomic_json_dump(dict(summary=summarize_quality(qualities), samples=qualities),
                         out / "alignment_report.json")
    if not opts.keep_parts and not failures:  # with failures, parts/ stays: a re-run retries them and merges again
        shutil.rmtree(out / "parts", ignore_errors=True)
    return 0, target


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def _read_part(out: Path, sample: Sample) -> dict:
    path = part_path(out, sample.key)
    try:
        rec = safe_pickle_load(path)
        if not isinstance(rec, dict) or rec.get("frame_dir") != sample.name:
            raise ValueError(f"{path}: not the record of {sample.name}")
    except ValueError as e:
        path.unlink(missing_ok=True)
        raise DamagedPart(f"{e}; the part was removed: run the same command again to extract it anew")
    return rec


def _records_of(target: Path) -> dict[str, dict]:
    """The records of a merged annotations.pkl by name (a finished run re-merged for new labels)."""
    from pipeline.data.annotations import load_annotations

    return {r["frame_dir"]: r for r in load_annotations(target)["annotations"]}


class DamagedPart(Exception):
    """A part that cannot be read at the merge (carried out of the record stream)."""


def merged_names(out: Path, made_by: dict | None = None, name: str = NAME) -> set[str]:
    """Samples already in a merged annotations.pkl of this OUT whose parts/ are gone (a finished run; with
    `made_by`, only when it was made the same way: dataset, pose backend and tracking settings)."""
    manifest = _manifest(out, name)
    if (out / "parts").is_dir() and any(p.suffix in (".pkl", ".failed") for p in (out / "parts").iterdir()):
        return set()
    if not (out / f"{name}.pkl").exists():
        return set()
    for key, want in (made_by or {}).items():
        have = manifest.get(key)
        # tracking settings must match exactly: a manifest without them was made by an older tracker
        if (key == "tracking" and have != want) or (key in ("dataset", "pose") and have not in (want, None)):
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


def _manifest(out: Path, name: str = NAME) -> dict:
    try:
        data = json.loads((out / f"{name}.json").read_text())
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
