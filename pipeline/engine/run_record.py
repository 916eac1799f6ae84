"""What made a training run, recorded in its work dir, and checked before a second run reuses anything.

A WORK_DIR holding a finished `last.pth`, run again with another ANN_FILE, used to print "resuming ... at
epoch 2", train nothing and exit 0: the user got the old model and never knew. So every run writes
`run.json` (and the same record into its checkpoints' metadata): the config as trained (a digest, and the
values), the annotation file (resolved path and a content digest), LOAD_FROM (path and digest) and the class
names. A run in a WORK_DIR that already holds a run resumes only when the records agree; otherwise it
refuses in one line that names what differs and the two ways on (another WORK_DIR, or `--restart`, which
moves the old run aside, never deletes it).

Content digests, not sizes and times: a relabelled copy made with `cp -p` or `rsync -t` has the same size
and mtime. A file's digest is cached by its (size, mtime, ctime, inode), which such a copy cannot keep
(a new file has a new inode and ctime), so an unchanged multi-GB annotation file is hashed only once.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from extract.fileio import atomic_json_dump, file_sha256, printable

RECORD = "run.json"
# Config keys a resumed run may change: how fast it goes (workers, test batch), where files are named from
# (the data is checked by content), and how long it runs (more epochs continue the same run).
VOLATILE_KEYS = {("train", "num_workers"), ("train", "test_batch_size"), ("ann_file",), ("work_dir",),
                 ("train", "epochs"), ("train", "time_budget_min")}
_DIGESTS: dict[tuple, str] = {}


def file_digest(path: str | os.PathLike) -> dict[str, Any]:
    """{'path': resolved path, 'sha256': content digest} of a file (cached per process by its stat)."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_sha256(path)
    return dict(path=str(path), sha256=_DIGESTS[key])


def _strip(cfg: dict, prefix: tuple = ()) -> dict:
    return {k: (_strip(v, prefix + (k,)) if isinstance(v, dict) else v) for k, v in cfg.items()
            if prefix + (k,) not in VOLATILE_KEYS}


def make_record(config_path: str | os.PathLike | None, cfg_plain: dict, ann: Path, load_from: Path | None,
                class_names: list[str]) -> dict:
    """The record of a run about to start."""
    learned = _strip(cfg_plain)
    return dict(
        config=str(Path(config_path).resolve()) if config_path else None,
        config_sha256=hashlib.sha256(json.dumps(learned, sort_keys=True).encode()).hexdigest(),
        config_values=learned,
        ann_file=file_digest(ann),
        load_from=file_digest(load_from) if load_from else None,
        class_names=list(class_names),
    )


def differences(old: dict, new: dict) -> list[str]:
    """What differs between two run records, in words (empty when the runs are the same)."""
    out = []
    if old.get("config_sha256") != new.get("config_sha256"):
        key = _first_difference(old.get("config_values") or {}, new.get("config_values") or {})
        out.append(f"the config ({key})" if key else "the config")
    for what, key in (("the annotation file", "ann_file"), ("LOAD_FROM", "load_from")):
        a, b = old.get(key) or {}, new.get(key) or {}
        if a.get("sha256") != b.get("sha256"):
            was = printable(a.get("path") or "none")
            now = printable(b.get("path") or "none")
            out.append(f"{what} (was {was}, now {now})" if was != now else f"{what} ({now} changed since)")
    if old.get("class_names") != new.get("class_names"):
        out.append("the class names")
    return out


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            d = _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
            if d:
                return d
        return None
    return None if a == b else (path or "its values")


def read_record(work_dir: Path, last_meta: dict | None) -> dict | None:
    """The record of the run already in `work_dir`. When it holds a last.pth, the record that checkpoint
    carries (`last_meta`): last.pth is what a resume would reuse, so its own record is the one to trust
    (run.json beside a last.pth copied in from elsewhere says nothing about it). Else run.json (a run
    stopped before its first checkpoint)."""
    if last_meta is not None:
        rec = last_meta.get("run")
        return rec if isinstance(rec, dict) else None
    try:
        rec = json.loads((work_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def write_record(work_dir: Path, record: dict) -> None:
    atomic_json_dump(record, work_dir / RECORD)


def holds_a_run(work_dir: Path) -> bool:
    return any((work_dir / n).exists() for n in (RECORD, "last.pth", "best.pth", "log.json"))


def move_aside(work_dir: Path) -> Path:
    """Move the run in `work_dir` to a sibling `<name>.old-<time>` (never deleted); returns where."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = work_dir.with_name(f"{work_dir.name}.old-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = work_dir.with_name(f"{work_dir.name}.old-{stamp}-{n}")
    os.replace(work_dir, target)
    work_dir.mkdir(parents=True)
    return target
