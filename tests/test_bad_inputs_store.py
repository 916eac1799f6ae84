"""The sample store beside an annotation file, attacked through the real tools (tools/test.py, tools/train.py).

A store is a folder of plain files that can be edited, truncated, left stale by a copied pickle, or be
a user's own folder that merely has the store's name. Every case asserts what the user sees: the right
result from the pickle as it is now, or exit 2 with exactly one `error:` line naming the store (and the
file in it), and protected files byte-identical afterwards.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from _tools import run_tool
from test_bad_inputs import CONFIG, assert_clean_error, protect  # noqa: F401 (protect: a fixture)

from pipeline.data.store import COLUMN_FILES, _index_digest, store_path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints" / "pggcn_nwucla_default.pth"


def _ann(folder: Path, labels: list[int] | None = None, name: str = "ucla.pkl") -> Path:
    """A tiny NW-UCLA-style annotation file (Kinect v1, 20 joints; 6 samples, the 2 of view 3 in xview_val):
    real shapes, random motion, labels 0..5 unless given."""
    rng = np.random.default_rng(0)
    recs = [dict(frame_dir=f"a{i:02d}_s01_e00_v0{1 + i % 3}", label=i if labels is None else labels[i],
                 total_frames=30, layout="kinect_v1_20",
                 keypoint=(rng.normal(0, 0.3, (1, 30, 20, 3)) + [0, 0, 3]).astype(np.float32)) for i in range(6)]
    names = [r["frame_dir"] for r in recs]
    data = dict(split=dict(xview_train=[n for n in names if not n.endswith("v03")],
                           xview_val=[n for n in names if n.endswith("v03")]), annotations=recs)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(pickle.dumps(data))
    return folder / name


def _eval(capsys, ann: Path, out: Path):
    return run_tool(capsys, "test", CONFIG, "--checkpoint", SHIPPED, "--ann-file", ann, "--work-dir", out)


def _built(capsys, tmp_path) -> tuple[Path, Path]:
    """An annotation file whose store a first, good evaluation has built: (ann, store folder)."""
    ann = _ann(tmp_path / "data")
    rc, _, err = _eval(capsys, ann, tmp_path / "first")
    assert rc == 0, err
    return ann, store_path(ann)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _resign(store: Path) -> None:
    """Record the current column checksums, as an editor who knows the format would."""
    index = json.loads((store / "index.json").read_text())
    index["checksums"] = {n: hashlib.sha256((store / n).read_bytes()).hexdigest() for n in COLUMN_FILES}
    index["index_sha256"] = _index_digest(index)
    (store / "index.json").write_text(json.dumps(index))


def test_a_relabelled_copy_with_the_same_size_and_mtime_is_evaluated_with_its_labels(capsys, tmp_path):
    ann, _ = _built(capsys, tmp_path)
    before = ann.stat()
    relabelled = _ann(tmp_path / "elsewhere", [9, 8, 7, 6, 5, 4])
    assert relabelled.stat().st_size == before.st_size
    shutil.copy2(relabelled, ann)  # cp -p
    os.utime(ann, ns=(before.st_atime_ns, before.st_mtime_ns))
    rc, _, err = _eval(capsys, ann, tmp_path / "second")
    assert rc == 0, err
    dump = np.load(tmp_path / "second" / "scores.npz")
    assert list(dump["labels"]) == [7, 4]  # the val samples (v03) of the relabelled file


def test_a_same_content_copy_is_evaluated_from_the_store_without_rebuilding(capsys, tmp_path):
    ann, store = _built(capsys, tmp_path)
    index = (store / "index.json").read_bytes(), (store / "index.json").stat().st_ino
    shutil.copy2(ann, tmp_path / "incoming.pkl")
    os.replace(tmp_path / "incoming.pkl", ann)  # rsync -t: same bytes, new inode
    rc, _, err = _eval(capsys, ann, tmp_path / "second")
    assert rc == 0, err
    assert ((store / "index.json").read_bytes(), (store / "index.json").stat().st_ino) == index
    first, second = np.load(tmp_path / "first" / "scores.npz"), np.load(tmp_path / "second" / "scores.npz")
    np.testing.assert_array_equal(first["scores"], second["scores"])


def test_edited_labels_in_the_store_are_refused(capsys, tmp_path, protect):
    ann, store = _built(capsys, tmp_path)
    np.save(store / "labels.npy", np.zeros(6, np.int64))
    protect(ann, *_files(store))
    result = _eval(capsys, ann, tmp_path / "second")
    assert_clean_error(result, store, "labels.npy", "checksum", ann)
    assert not (tmp_path / "second" / "metrics.json").exists()


def test_training_refuses_an_edited_store_too(capsys, tmp_path, protect):
    ann, store = _built(capsys, tmp_path)
    np.save(store / "labels.npy", np.zeros(6, np.int64))
    protect(ann, *_files(store))
    result = run_tool(capsys, "train", ROOT / "configs/pggcn_demo.py", "--ann-file", ann, "--work-dir", tmp_path / "w")
    assert_clean_error(result, store, "labels.npy")


def test_zeroed_offsets_are_refused_even_with_matching_checksums(capsys, tmp_path, protect):
    ann, store = _built(capsys, tmp_path)
    np.save(store / "offsets.npy", np.zeros(6, np.int64))
    _resign(store)
    protect(ann, *_files(store))
    assert_clean_error(_eval(capsys, ann, tmp_path / "second"), store, "offsets.npy does not follow")


def test_a_truncated_bin_file_is_refused_naming_it(capsys, tmp_path, protect):
    ann, store = _built(capsys, tmp_path)
    data = (store / "keypoint.bin").read_bytes()
    (store / "keypoint.bin").write_bytes(data[: len(data) // 2])
    protect(ann, *_files(store))
    assert_clean_error(_eval(capsys, ann, tmp_path / "second"), store, "keypoint.bin", "truncated")


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_users_own_store_named_path_is_refused_and_left_alone(capsys, tmp_path, protect, kind):
    ann = _ann(tmp_path / "data")
    path = store_path(ann)
    if kind == "file":
        path.write_text("my notes\n")
    else:
        path.mkdir()
        (path / "photo.jpg").write_bytes(os.urandom(64))
    protect(ann, *([path] if kind == "file" else _files(path)))
    for _ in range(2):  # a second run finds it as it was (no hidden .old copy, nothing cleaned away)
        assert_clean_error(_eval(capsys, ann, tmp_path / "e"), path, "not a sample store made by this project")
    assert sorted(p.name for p in path.parent.iterdir()) == ["ucla.pkl", "ucla.store"]


def test_an_old_store_without_a_hash_is_rebuilt(capsys, tmp_path):
    ann, store = _built(capsys, tmp_path)
    index = json.loads((store / "index.json").read_text())
    st = ann.stat()
    for key in ("format", "checksums", "index_sha256"):
        del index[key]
    index.update(version=1, source=dict(size=st.st_size, mtime_ns=st.st_mtime_ns))  # a version-1 store
    (store / "index.json").write_text(json.dumps(index))
    rc, _, err = _eval(capsys, ann, tmp_path / "second")
    assert rc == 0, err
    assert json.loads((store / "index.json").read_text())["version"] == 2
