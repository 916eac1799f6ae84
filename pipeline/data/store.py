"""A memory-mapped sample store beside annotations.pkl, so that training opens NTU-120 without reading it.

annotations.pkl stays the interchange file (pyskl / mmaction2 read it). A pickle must be loaded whole, by
every DDP rank, and forked loader workers copy its pages as Python touches the objects: about 12 GB per
process for NTU-120 with pose fields. The store (`annotations.store/` beside the pickle) is instead:
- one flat raw array per per-frame field, concatenated over samples along (person, frame) rows:
  `keypoint` (sum of M*T, V, 3) float32, `pose_keypoint` float32 (pixels: float16 would cost a pixel at
  1920), `pose_world` float32, `kinect_color` float32, `pose_score` / `keypoint_score` float16 (scores in
  [0, 1] keep 3 decimals), `kinect_tracking` uint8;
- small columns (names, labels, frame and person counts, offsets, img_shape, layout, pose_source, ...);
- `index.json` with dtypes and shapes, a sha256 of every small column file and of its own content, and the
  fingerprint of the pickle it was built from (sha256 and size, mtime, ctime, inode).
Arrays are opened with `np.memmap(mode='r')`: every rank and worker on a machine shares one page cache and
the opening costs milliseconds. Writers append sample by sample (flat memory) and publish the folder with
one rename, so a store is complete or absent.

Trust on a second run. A store is used only for the exact pickle it was built from. Size and mtime alone
are not enough: `cp -p` or `rsync -t` of a relabelled pickle keeps both. When size, mtime_ns, ctime_ns
and inode all match the record, the file is the one the store was built from (a copy always gets a new
inode or ctime), and nothing is read. Otherwise the pickle is hashed (sha256: 1.85 GB/s measured from the
page cache on this project's 2-core x86 machine with SHA extensions, so ~4 s for NTU-120's 7.3 GB pickle;
paid at build time and once after a copy, touch or move, since `verified.json` in the store then records
the new stat), and a different hash means a stale store, which is rebuilt.
A store is a folder of plain files that anyone can edit, so opening one also checks every index column
against what can be derived (offsets from frame and person counts, row total, lengths, each .bin file's
size) and against the sha256 recorded at build time: ~24 MB of columns for NTU-120's 114,480 samples,
~60 ms per open measured here, hashing included. The .bin arrays themselves are not hashed (7 GB on every
open): an edited value inside them goes unnoticed, a truncated file does not. A store that fails a check
is refused in one line naming the folder and the file, never silently rebuilt (it may not be ours to
delete); a folder or file at the store's path that this project did not make is never renamed, replaced
or removed. (A .bin file truncated while a run has it mapped still ends that run with SIGBUS.)
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from extract.fileio import atomic_json_dump, file_sha256, one_line, remove_stale_temps, require_file, temp_name

VERSION = 2  # 1: no checksums, source fingerprint of size and mtime only (such stores are rebuilt)
FORMAT = "pggcn-sample-store"  # in index.json: how a folder is recognised as one of our stores
FRAME_FIELDS = {  # per-(person, frame) arrays and the dtype they are stored in
    "keypoint": np.float32, "pose_keypoint": np.float32, "pose_world": np.float32, "kinect_color": np.float32,
    "pose_score": np.float16, "keypoint_score": np.float16, "kinect_tracking": np.uint8,
}
SCALAR_FIELDS = ("total_frames", "layout", "pose_source", "pose_mirrored", "pose_frames", "fps")
COLUMN_FILES = ("names.npy", "labels.npy", "frames.npy", "persons.npy", "offsets.npy", "img_shape.npy",
                "split.json", "scalars.json")
VERIFIED = "verified.json"  # the pickle's stat after a copy whose hash matched: the next open is fast again


def store_path(ann_file: str | Path) -> Path:
    ann_file = Path(ann_file)
    return ann_file.with_name(ann_file.stem + ".store")


# ------------------------------------------------------------------------------------------ fingerprints


def _stat_figures(st: os.stat_result) -> dict:
    """The stat figures that change whenever the file is replaced (a copy gets a new inode and ctime)."""
    return dict(size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns, ino=st.st_ino)


def fingerprint(ann_file: str | Path) -> dict:
    """Stat figures and sha256 of the annotation file a store is built from (the `source=` of writers).

    The stat and the hash come from one open file, so they describe the same inode even if the path is
    replaced meanwhile."""
    ann_file = require_file(ann_file, "annotation file")
    with open(ann_file, "rb") as f:
        st = os.fstat(f.fileno())
        return dict(_stat_figures(st), sha256=hashlib.file_digest(f, "sha256").hexdigest())


def _same_stat(record: Any, st: os.stat_result) -> bool:
    return isinstance(record, dict) and all(record.get(k) == v for k, v in _stat_figures(st).items())


def _built_from(path: Path, index: dict, ann_file: Path) -> bool:
    """Whether the store at `path` (its index.json read as `index`) was built from `ann_file` as it is now:
    the stat fast path, else a hash of the file (whose result is kept in verified.json when it matches)."""
    src = index.get("source")
    if index.get("version") != VERSION or not isinstance(src, dict) or not isinstance(src.get("sha256"), str):
        return False  # an older store, or one written without a source: rebuilt
    require_file(ann_file, "annotation file")
    st = ann_file.stat()
    verified = _read_json(path / VERIFIED)
    if _same_stat(src, st) or (_same_stat(verified, st) and verified.get("sha256") == src["sha256"]):
        return True
    now = fingerprint(ann_file)
    if now["sha256"] != src["sha256"]:
        return False
    _write_verified(path, now)
    return True


def _read_json(path: Path) -> Any:
    """The JSON in `path`, or None when it is missing or unreadable (for optional sidecars)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_verified(path: Path, figures: dict) -> None:
    """Record the pickle's new stat beside the store; a read-only store folder just stays slow to open."""
    with contextlib.suppress(OSError):
        remove_stale_temps(path)
        atomic_json_dump(figures, path / VERIFIED)


# ------------------------------------------------------------------------------------------- ownership


def _index_digest(index: dict) -> str:
    """sha256 of index.json's content without its own checksum (so that edits to it are noticed)."""
    body = {k: v for k, v in index.items() if k != "index_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _inspect(path: Path) -> tuple[dict | None, str | None]:
    """(index.json, None) when the existing `path` is a sample store made by this project (a folder whose
    index.json carries our format tag, or the keys of a version-1 store), else (None, why it is not one)."""
    if not path.is_dir():
        return None, "a file" if path.is_file() else "not a folder"
    try:
        index = json.loads((path / "index.json").read_text())
    except FileNotFoundError:
        return None, "no index.json"
    except (OSError, ValueError) as e:
        return None, f"index.json: {one_line(e)}"
    if not isinstance(index, dict) or not isinstance(index.get("version"), int):
        return None, "its index.json has no store version"
    if index.get("format") != FORMAT and not {"samples", "rows", "fields"} <= index.keys():
        return None, "its index.json is not a sample store's"
    return index, None


def _not_ours(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: exists and is not a sample store made by this project ({why}); move it away "
                      f"(it is left as it is)")


def _check_replaceable(path: Path) -> None:
    """ValueError unless `path` is absent or one of our stores (which may then be replaced)."""
    if path.is_symlink():
        raise ValueError(f"{path}: is a link; a sample store is never replaced through a link; remove the link "
                         f"or the store it points to (both are left as they are)")
    if path.exists():
        why = _inspect(path)[1]
        if why:
            raise _not_ours(path, why)


# --------------------------------------------------------------------------------------------- writing


class StoreWriter:
    """Append records one by one; `close()` publishes the store (atomically, by renaming its folder).

    An existing target is replaced only when it is one of our stores; anything else at that path is the
    user's, and is refused at once (before any work) and again at close (in case it appeared meanwhile)."""

    def __init__(self, target: str | Path):
        self.target = Path(target)
        _check_replaceable(self.target)
        self.tmp = self.target.with_name(temp_name(self.target.name))
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.files: dict[str, Any] = {}
        self.shapes: dict[str, tuple] = {}
        self.columns: dict[str, list] = {k: [] for k in ("names", "labels", "frames", "persons", "img_shape",
                                                         *SCALAR_FIELDS)}
        self.rows = 0

    def add(self, rec: dict) -> None:
        kp = rec["keypoint"]
        m, t = kp.shape[:2]
        if not m or not t:  # a reader could not tell it from a damaged store (and no pipeline can use it)
            raise ValueError(f"{self.target}: record {rec['frame_dir']} has no frames or no persons (keypoint "
                             f"shape {kp.shape}); a store holds samples with at least one of each")
        for key, dtype in FRAME_FIELDS.items():
            arr = rec.get(key)
            if arr is None:
                if key in self.files:
                    raise ValueError(f"{self.target}: record {rec['frame_dir']} lacks {key}, which earlier records have")
                continue
            arr = np.ascontiguousarray(np.asarray(arr).reshape(m * t, *arr.shape[2:]), dtype=dtype)
            if key not in self.files:
                if self.rows:
                    raise ValueError(f"{self.target}: record {rec['frame_dir']} has {key}, which earlier records lack")
                self.files[key] = open(self.tmp / f"{key}.bin", "wb")
                self.shapes[key] = arr.shape[1:]
            if arr.shape[1:] != self.shapes[key]:
                raise ValueError(f"{self.target}: record {rec['frame_dir']}: {key} has shape {arr.shape[1:]} per "
                                 f"frame, earlier records {self.shapes[key]}; a store holds one joint layout")
            self.files[key].write(arr.tobytes())
        c = self.columns
        c["names"].append(rec["frame_dir"])
        c["labels"].append(int(rec["label"]))
        c["frames"].append(t)
        c["persons"].append(m)
        c["img_shape"].append(tuple(rec.get("img_shape") or (0, 0))[:2])
        for key in SCALAR_FIELDS:
            c[key].append(rec.get(key))
        self.rows += m * t

    def close(self, split: dict[str, list[str]], source: dict | None = None,
              label_names: list[str] | None = None) -> Path:
        for f in self.files.values():
            f.close()
        try:
            self._write_columns(split)
            index = dict(format=FORMAT, version=VERSION, samples=len(self.columns["names"]), rows=self.rows,
                         fields={k: [np.dtype(FRAME_FIELDS[k]).str, list(s)] for k, s in self.shapes.items()},
                         checksums={name: file_sha256(self.tmp / name) for name in COLUMN_FILES},
                         source=source, label_names=label_names)
            index["index_sha256"] = _index_digest(index)
            atomic_json_dump(index, self.tmp / "index.json")
            self._publish()
        except BaseException:
            self.abort()
            raise
        return self.target

    def _write_columns(self, split: dict) -> None:
        c = self.columns
        frames = np.asarray(c["frames"], np.int64)
        persons = np.asarray(c["persons"], np.int64)
        sizes = frames * persons
        np.save(self.tmp / "names.npy", np.asarray(c["names"], dtype=str))
        np.save(self.tmp / "labels.npy", np.asarray(c["labels"], np.int64))
        np.save(self.tmp / "frames.npy", frames)
        np.save(self.tmp / "persons.npy", persons)
        np.save(self.tmp / "offsets.npy", np.cumsum(sizes) - sizes)
        np.save(self.tmp / "img_shape.npy", np.asarray(c["img_shape"], np.int64).reshape(-1, 2))
        atomic_json_dump(split, self.tmp / "split.json", indent=None)
        scalars = {k: v for k, v in ((k, c[k]) for k in SCALAR_FIELDS) if any(x is not None for x in v)}
        atomic_json_dump(scalars, self.tmp / "scalars.json", indent=None)

    def _publish(self) -> None:
        """Rename the temp folder onto the target; an old store of ours goes aside first, then away."""
        _check_replaceable(self.target)
        old = self.target.with_name(temp_name(self.target.name, "old"))
        if self.target.exists():
            os.replace(self.target, old)
        os.replace(self.tmp, self.target)
        shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        for f in self.files.values():
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def write_store(records: Iterable[dict], split: dict[str, list[str]], target: str | Path,
                source: dict | None = None, label_names: list[str] | None = None) -> Path:
    writer = StoreWriter(target)
    try:
        for rec in records:
            writer.add(rec)
        return writer.close(split, source, label_names)
    except BaseException:
        writer.abort()
        raise


# --------------------------------------------------------------------------------------------- reading


class SampleStore:
    """A read-only store; `record(i)` is an annotation record (dict) whose arrays are views of the maps.

    Opening checks the index columns (checksums, derived figures, .bin sizes) and refuses a store that
    fails them with one line naming the folder and the file; `ann_file` only words the advice."""

    def __init__(self, path: str | Path, ann_file: str | Path | None = None):
        self.path = Path(path)
        self._advice = f"remove the folder and it is rebuilt from {ann_file or 'the annotation file'}"
        self.index = self._read_index()
        columns = {name: self._read_column(name) for name in COLUMN_FILES}
        self.names, self.labels = columns["names.npy"], columns["labels.npy"]
        self.frames, self.persons = columns["frames.npy"], columns["persons.npy"]
        self.offsets, self.img_shape = columns["offsets.npy"], columns["img_shape.npy"]
        self.split, self.scalars = columns["split.json"], columns["scalars.json"]
        self.label_names = self.index.get("label_names")
        self._check_columns()
        self._check_objects()
        self.arrays = {k: self._map(k, np.dtype(d), tuple(s)) for k, (d, s) in self.index["fields"].items()}

    def _refuse(self, what: str) -> ValueError:
        return ValueError(f"{self.path}: {what}; {self._advice}")

    def _read_index(self) -> dict:
        try:
            index = json.loads((self.path / "index.json").read_text())
        except (OSError, ValueError) as e:
            raise self._refuse(f"not a readable sample store (index.json: {one_line(e)})") from None
        version = index.get("version") if isinstance(index, dict) else None
        if version != VERSION:
            raise self._refuse(f"not a readable sample store (store version {version}, expected {VERSION})")
        if index.get("index_sha256") != _index_digest(index):
            raise self._refuse("index.json does not match the checksum recorded when the store was built (edited?)")
        checks = dict(samples=isinstance(index.get("samples"), int) and index["samples"] >= 0,
                      rows=isinstance(index.get("rows"), int) and index["rows"] >= 0,
                      fields=isinstance(index.get("fields"), dict),
                      checksums=isinstance(index.get("checksums"), dict))
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise self._refuse(f"index.json has no valid {', '.join(bad)}")
        return index

    def _read_column(self, name: str) -> Any:
        """A small column file, read once, checked against its build-time sha256, then parsed."""
        try:
            data = (self.path / name).read_bytes()
        except OSError as e:
            raise self._refuse(f"{name}: {e.strerror or one_line(e)}") from None
        if hashlib.sha256(data).hexdigest() != self.index["checksums"].get(name):
            raise self._refuse(f"{name} does not match the checksum recorded when the store was built (edited?)")
        try:
            return np.load(io.BytesIO(data), allow_pickle=False) if name.endswith(".npy") else json.loads(data)
        except (ValueError, OSError, EOFError) as e:
            raise self._refuse(f"{name}: not readable ({one_line(e)})") from None

    def _check_columns(self) -> None:
        """Lengths, dtypes and counts, and the offsets and row total that follow from them."""
        n = self.index["samples"]
        cols = dict(names=self.names, labels=self.labels, frames=self.frames, persons=self.persons,
                    offsets=self.offsets, img_shape=self.img_shape)
        for key, arr in cols.items():
            if len(arr.shape) != (2 if key == "img_shape" else 1) or len(arr) != n:
                raise self._refuse(f"{key}.npy has shape {arr.shape}; index.json says {n} samples")
            if arr.dtype.kind != ("U" if key == "names" else "i"):
                raise self._refuse(f"{key}.npy has dtype {arr.dtype}, not the store's")
        if self.img_shape.shape[1:] != (2,):
            raise self._refuse(f"img_shape.npy has shape {self.img_shape.shape}, expected ({n}, 2)")
        for key in ("frames", "persons"):
            bad = np.flatnonzero(cols[key] <= 0)
            if len(bad):
                raise self._refuse(f"{key}.npy gives sample {bad[0]} ({self.names[bad[0]]}) {cols[key][bad[0]]} {key}")
        sizes = self.frames * self.persons
        bad = np.flatnonzero(self.offsets != np.cumsum(sizes) - sizes)
        if len(bad):
            raise self._refuse(f"offsets.npy does not follow from frames.npy and persons.npy (first at sample "
                               f"{bad[0]}, {self.names[bad[0]]})")
        if int(sizes.sum()) != self.index["rows"]:
            raise self._refuse(f"index.json says {self.index['rows']} rows, frames.npy and persons.npy give "
                               f"{int(sizes.sum())}")

    def _check_objects(self) -> None:
        """split.json, scalars.json and the index's fields and label names have the shapes record() needs."""
        n = self.index["samples"]
        if not isinstance(self.split, dict) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in self.split.values()):
            raise self._refuse("split.json is not a mapping of split names to lists of sample names")
        if not isinstance(self.scalars, dict) or not all(
                k in SCALAR_FIELDS and isinstance(v, list) and len(v) == n for k, v in self.scalars.items()):
            raise self._refuse(f"scalars.json is not a mapping of record fields to lists of {n} values")
        names = self.label_names
        if names is not None and not (isinstance(names, list) and all(isinstance(x, str) for x in names)):
            raise self._refuse("index.json has label_names that are not a list of strings")
        for key, spec in self.index["fields"].items():
            ok = (key in FRAME_FIELDS and isinstance(spec, list) and len(spec) == 2
                  and spec[0] == np.dtype(FRAME_FIELDS[key]).str and isinstance(spec[1], list)
                  and all(isinstance(x, int) and x > 0 for x in spec[1]))
            if not ok:
                raise self._refuse(f"index.json has an unknown field or layout: {key} {spec}")

    def _map(self, key: str, dtype: np.dtype, shape: tuple) -> np.ndarray:
        """The field's .bin file as a read-only map, after checking its size against rows and shape."""
        rows, file = self.index["rows"], self.path / f"{key}.bin"
        expected = rows * dtype.itemsize * int(np.prod(shape))
        try:
            size = file.stat().st_size
        except OSError as e:
            raise self._refuse(f"{key}.bin: {e.strerror or one_line(e)}") from None
        if size != expected:
            raise self._refuse(f"{key}.bin has {size} bytes, expected {expected} ({rows} rows of {dtype} "
                               f"{list(shape)}): {'truncated' if size < expected else 'too long'}")
        if not rows:
            return np.zeros((0, *shape), dtype)
        try:
            return np.memmap(file, dtype=dtype, mode="r", shape=(rows, *shape))
        except (OSError, ValueError) as e:
            raise self._refuse(f"{key}.bin: cannot be mapped ({one_line(e)})") from None

    def __len__(self) -> int:
        return len(self.names)

    def record(self, i: int) -> dict:
        try:
            return self._record(i)
        except (IndexError, ValueError, TypeError, OSError) as e:
            name = f" ({self.names[i]})" if -len(self) <= i < len(self) else ""
            raise ValueError(f"{self.path}: sample {i}{name} cannot be read ({one_line(e)})") from None

    def _record(self, i: int) -> dict:
        m, t, start = int(self.persons[i]), int(self.frames[i]), int(self.offsets[i])
        rec: dict[str, Any] = dict(frame_dir=str(self.names[i]), label=int(self.labels[i]))
        for key, arr in self.arrays.items():
            rec[key] = arr[start:start + m * t].reshape(m, t, *arr.shape[1:])
        h, w = self.img_shape[i]
        if h and w:
            rec["img_shape"] = (int(h), int(w))
        for key, values in self.scalars.items():
            if values[i] is not None:
                rec[key] = values[i]
        return rec

    def __iter__(self) -> Iterator[dict]:
        return (self.record(i) for i in range(len(self)))


def _existing_index(path: Path) -> dict | None:
    """index.json of the store at `path`; None when nothing is there; ValueError (before any work) when
    something is there that this project did not make, which is then left as it is."""
    if not os.path.lexists(path):
        return None
    if not path.exists():
        raise _not_ours(path, "a dangling link")
    index, why = _inspect(path)
    if why:
        raise _not_ours(path, why)
    return index


def open_store(ann_file: str | Path, build: bool = True) -> SampleStore | None:
    """The store beside `ann_file`, (re)built from it when missing or built from another file (atomically);
    None when it is absent or stale and `build` is False. A store whose checks fail is refused (ValueError),
    not rebuilt; so is anything at the store's path that is not one of our stores."""
    ann_file = Path(ann_file)
    path = store_path(ann_file)
    index = _existing_index(path)
    if index is not None and (not ann_file.exists() or _built_from(path, index, ann_file)):
        return SampleStore(path, ann_file)
    if not build:
        return None
    _build(ann_file, path)
    return SampleStore(path, ann_file)


def _build(ann_file: Path, path: Path) -> None:
    """Build the store of `ann_file`. The writer comes first, so that a read-only folder fails before the
    pickle is read; the fingerprint is taken before loading, so that a file replaced meanwhile leaves a
    store that the next open finds stale, never one trusted with other data."""
    from pipeline.data.annotations import load_annotations

    remove_stale_temps(path.parent)
    writer = StoreWriter(path)
    try:
        source = fingerprint(ann_file)
        data = load_annotations(ann_file)
        for rec in data["annotations"]:
            _add(writer, rec, ann_file)
        writer.close(data["split"], source=source, label_names=data.get("label_names"))
    except BaseException:
        writer.abort()
        raise


def _add(writer: StoreWriter, rec: dict, ann_file: Path) -> None:
    """writer.add, with a record the store cannot hold reported against the file it came from."""
    try:
        writer.add(rec)
    except ValueError as e:
        raise ValueError(f"{ann_file}: {str(e).removeprefix(f'{writer.target}: ')}") from None
