"""The memory-mapped sample store and the streaming merge, on real NTU and NW-UCLA records."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from extract.fileio import safe_pickle_load
from pipeline.data.annotations import load_annotations, save_annotations, stream_annotations
from pipeline.datasets.ntu.source import build_ntu_record
from pipeline.config import load_config
from pipeline.data.dataset import SkeletonDataset
from pipeline.datasets.nwucla import DEFAULT_ANN, import_nwucla
from pipeline.data.store import SampleStore, open_store, store_path, write_store

ROOT = Path(__file__).resolve().parents[2]
SKELETON = ROOT / "tests/assets/ntu_sample/S001C001P001R001A001.skeleton"


def _records(n: int = 3) -> list[dict]:
    base = build_ntu_record(SKELETON)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        rec = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in base.items()}
        rec["frame_dir"] = f"S001C00{i + 1}P001R001A001"
        m, t = rec["keypoint"].shape[:2]
        rec.update(pose_keypoint=rng.uniform(0, 1900, (m, t, 25, 2)).astype(np.float32),
                   pose_score=rng.uniform(0, 1, (m, t, 25)).astype(np.float32), pose_source="mediapipe",
                   pose_mirrored=True, pose_frames=t)
        out.append(rec)
    return out


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_the_streamed_pickle_loads_as_the_same_data(tmp_path):
    recs = _records()
    split = dict(xsub_train=[r["frame_dir"] for r in recs[:2]], xsub_val=[recs[2]["frame_dir"]])
    save_annotations(tmp_path / "whole.pkl", recs, split)
    assert stream_annotations(tmp_path / "streamed.pkl", split, iter(recs)) == 3
    whole, streamed = safe_pickle_load(tmp_path / "whole.pkl"), safe_pickle_load(tmp_path / "streamed.pkl")
    assert _same(whole, streamed)
    assert _same(pickle.loads((tmp_path / "streamed.pkl").read_bytes()), whole)  # a plain unpickler too
    load_annotations(tmp_path / "streamed.pkl")


def test_store_round_trip_keeps_every_field(tmp_path):
    recs = _records()
    split = dict(xsub_train=[r["frame_dir"] for r in recs])
    write_store(recs, split, tmp_path / "a.store")
    store = SampleStore(tmp_path / "a.store")
    assert len(store) == 3 and store.split == split and list(store.labels) == [0, 0, 0]
    for rec, back in zip(recs, store):
        assert back["frame_dir"] == rec["frame_dir"] and back["total_frames"] == rec["total_frames"]
        for key in ("keypoint", "kinect_color", "pose_keypoint"):
            np.testing.assert_array_equal(back[key], rec[key])
        np.testing.assert_array_equal(back["kinect_tracking"], rec["kinect_tracking"])
        np.testing.assert_allclose(back["pose_score"], rec["pose_score"], atol=5e-4)  # float16 scores
        assert back["pose_source"] == "mediapipe" and back["pose_mirrored"] is True
        assert back["img_shape"] == (1080, 1920)
        assert not back["keypoint"].flags.writeable  # a map: read-only, shared


def test_the_dataset_reads_the_same_samples_from_store_and_pickle():
    if not DEFAULT_ANN.exists():
        import_nwucla()
    cfg = load_config(ROOT / "configs/pggcn_nwucla_default.py")
    a = SkeletonDataset(DEFAULT_ANN, "xview_val", cfg.train_pipeline, seed=5)
    b = SkeletonDataset(DEFAULT_ANN, "xview_val", cfg.train_pipeline, seed=5, use_store=False)
    assert store_path(DEFAULT_ANN).is_dir() and len(a) == len(b) == 464
    np.testing.assert_array_equal(a.labels, b.labels)
    for i in (0, 17, 463):
        x, y = a[(2, i)], b[(2, i)]
        np.testing.assert_array_equal(x["skeleton"], y["skeleton"])
        np.testing.assert_array_equal(x["pose"], y["pose"])


def test_a_changed_annotation_file_rebuilds_its_store(tmp_path):
    recs = _records(2)
    ann = tmp_path / "annotations.pkl"
    save_annotations(ann, recs, dict(xsub_train=[recs[0]["frame_dir"]]))
    assert len(open_store(ann)) == 2
    save_annotations(ann, recs[:1], dict(xsub_train=[recs[0]["frame_dir"]]))
    assert len(open_store(ann)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotations.pkl", "annotations.store"]  # no temp left


def test_a_damaged_store_is_named(tmp_path):
    recs = _records(1)
    write_store(recs, {}, tmp_path / "x.store")
    (tmp_path / "x.store" / "index.json").write_text("{")
    with pytest.raises(ValueError, match="x.store: not a readable sample store"):
        SampleStore(tmp_path / "x.store")


def test_extraction_merges_into_pickle_and_store_and_cleans_up(tmp_path):
    from pipeline.datasets.ntu.source import ExtractConfig, run

    root = tmp_path / "root"
    (root / "nturgb+d_skeletons").mkdir(parents=True)
    names = ["S001C001P001R001A001", "S001C002P001R001A001", "S001C001P003R001A001"]
    for n in names:
        (root / "nturgb+d_skeletons" / f"{n}.skeleton").write_bytes(SKELETON.read_bytes())
    out = tmp_path / "out"
    result = run(ExtractConfig(dataset="ntu60", data_root=root, out=out), progress=False)
    assert result.merged == out / "annotations.pkl" and not (out / "parts").exists()
    data = load_annotations(out / "annotations.pkl")
    store = open_store(out / "annotations.pkl", build=False)
    assert store is not None and list(store.names) == [r["frame_dir"] for r in data["annotations"]]
    assert store.split == data["split"] and store.split["xsub_val"] == ["S001C001P003R001A001"]
    again = run(ExtractConfig(dataset="ntu60", data_root=root, out=out), progress=False)
    assert sorted(again.skipped) == sorted(names) and not again.done  # a finished run stays finished


def test_convert_builds_the_store_of_a_pickle_from_elsewhere(capsys, tmp_path):
    from _tools import run_tool

    recs = _records(2)
    ann = tmp_path / "ntu120_3danno.pkl"
    save_annotations(ann, recs, dict(xsub_train=[r["frame_dir"] for r in recs]))
    rc, out, err = run_tool(capsys, "convert", "--to", "store", ann)
    assert rc == 0, err
    assert "2 samples" in out and store_path(ann).is_dir()
    assert len(open_store(ann, build=False)) == 2


# ------------------------------------------------------------------ trust on a second run (pipeline/data/store.py)


def _ann(folder: Path, labels=(0, 1), name: str = "annotations.pkl") -> Path:
    """A small real annotation file (the NTU sample, one record per label) in `folder`."""
    recs = _records(len(labels))
    for rec, label in zip(recs, labels):
        rec["label"] = label
    folder.mkdir(parents=True, exist_ok=True)
    save_annotations(folder / name, recs, dict(xsub_train=[r["frame_dir"] for r in recs]))
    return folder / name


def _tree(path: Path) -> dict:
    """Every file under `path` (or `path` itself) with its bytes and inode: 'left as it is' means equal."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): (p.read_bytes(), p.stat().st_ino) for p in files}


def _resign(store: Path) -> None:
    """Record the current column checksums in index.json, as an editor who knows the format would."""
    import hashlib
    import json

    from pipeline.data.store import COLUMN_FILES, _index_digest

    index = json.loads((store / "index.json").read_text())
    index["checksums"] = {n: hashlib.sha256((store / n).read_bytes()).hexdigest() for n in COLUMN_FILES}
    index["index_sha256"] = _index_digest(index)
    (store / "index.json").write_text(json.dumps(index))


def _refusal(ann: Path, *words: str) -> str:
    """open_store(ann) must refuse in one line naming the store and `words`; returns the line."""
    with pytest.raises(ValueError) as e:
        open_store(ann)
    line = str(e.value)
    assert "\n" not in line and line.startswith(f"{store_path(ann)}: "), line
    for word in words:
        assert word in line, line
    return line


@pytest.mark.parametrize("how", ["in place (cp -p)", "new file renamed over it (rsync -t)"])
def test_a_relabelled_copy_with_the_same_size_and_mtime_is_not_read_from_the_old_store(tmp_path, how):
    import os
    import shutil

    ann = _ann(tmp_path, (0, 1))
    assert list(SkeletonDataset(ann, "xsub_train", []).labels) == [0, 1]
    relabelled = _ann(tmp_path / "elsewhere", (1, 0))
    before = ann.stat()
    assert relabelled.stat().st_size == before.st_size
    if how.startswith("in place"):
        shutil.copy2(relabelled, ann)
    else:
        shutil.copy2(relabelled, tmp_path / "incoming.pkl")
        os.replace(tmp_path / "incoming.pkl", ann)
    os.utime(ann, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (ann.stat().st_size, ann.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert list(SkeletonDataset(ann, "xsub_train", []).labels) == [1, 0]


def test_a_same_content_copy_is_used_without_rebuilding_and_hashed_once(tmp_path, monkeypatch):
    import os
    import shutil

    import pipeline.data.store as store_module

    ann = _ann(tmp_path)
    store = open_store(ann)
    index = _tree(store.path / "index.json")
    shutil.copy2(ann, tmp_path / "copy.pkl")
    os.replace(tmp_path / "copy.pkl", ann)  # same bytes, new inode and ctime
    assert list(open_store(ann).labels) == [0, 1]
    assert _tree(store.path / "index.json") == index  # not rebuilt
    assert (store.path / "verified.json").is_file()

    def no_hashing(path):
        raise AssertionError("hashed again")

    monkeypatch.setattr(store_module, "fingerprint", no_hashing)
    assert len(open_store(ann)) == 2  # the stat in verified.json matches: the fast path


def test_a_store_folder_that_cannot_take_verified_json_still_opens(tmp_path, monkeypatch):
    import os
    import shutil

    import pipeline.data.store as store_module

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    ann = _ann(tmp_path)
    open_store(ann)
    shutil.copy2(ann, tmp_path / "copy.pkl")
    os.replace(tmp_path / "copy.pkl", ann)
    monkeypatch.setattr(store_module, "atomic_json_dump", read_only)
    assert len(open_store(ann)) == 2 and not (store_path(ann) / "verified.json").exists()


def test_an_old_store_without_a_hash_is_rebuilt(tmp_path):
    import json

    ann = _ann(tmp_path)
    path = store_path(ann)
    st = ann.stat()
    write_store(_records(1), {}, path, source=dict(size=st.st_size, mtime_ns=st.st_mtime_ns))
    assert len(open_store(ann)) == 2
    index = json.loads((path / "index.json").read_text())
    index.update(version=1)
    del index["format"]  # what a version-1 store's index.json looked like
    (path / "index.json").write_text(json.dumps(index))
    assert len(open_store(ann)) == 2
    assert json.loads((path / "index.json").read_text())["source"]["sha256"]


def test_edited_labels_are_refused_and_the_store_left_as_it_is(tmp_path):
    ann = _ann(tmp_path)
    path = open_store(ann).path
    np.save(path / "labels.npy", np.array([5, 5], np.int64))
    edited = _tree(path)
    _refusal(ann, "labels.npy does not match the checksum recorded when the store was built", str(ann))
    assert _tree(path) == edited


def test_zeroed_offsets_are_refused_even_with_matching_checksums(tmp_path):
    ann = _ann(tmp_path, (0, 1, 2))
    path = open_store(ann).path
    np.save(path / "offsets.npy", np.zeros(3, np.int64))
    _refusal(ann, "offsets.npy does not match the checksum")
    _resign(path)
    _refusal(ann, "offsets.npy does not follow from frames.npy and persons.npy", "sample 1")


@pytest.mark.parametrize("column, value, words", [
    ("frames", np.array([0, 103], np.int64), "frames.npy gives sample 0"),
    ("labels", np.array([0], np.int64), "labels.npy has shape (1,)"),
    ("names", np.array([1, 2], np.int64), "names.npy has dtype"),
])
def test_columns_that_cannot_be_derived_are_refused(tmp_path, column, value, words):
    ann = _ann(tmp_path)
    path = open_store(ann).path
    np.save(path / f"{column}.npy", value)
    _resign(path)
    _refusal(ann, words)


def test_an_edited_index_is_refused(tmp_path):
    import json

    ann = _ann(tmp_path)
    path = open_store(ann).path
    index = json.loads((path / "index.json").read_text())
    index["label_names"] = ["x", "y"]
    (path / "index.json").write_text(json.dumps(index))
    _refusal(ann, "index.json does not match the checksum")


def test_a_truncated_bin_file_is_refused_naming_it(tmp_path):
    ann = _ann(tmp_path)
    path = open_store(ann).path
    data = (path / "keypoint.bin").read_bytes()
    (path / "keypoint.bin").write_bytes(data[:-12])
    _refusal(ann, "keypoint.bin has", "truncated")
    with pytest.raises(ValueError, match=r"x?annotations\.store: keypoint\.bin has .* truncated"):
        SampleStore(path)


def test_a_missing_column_file_is_refused_naming_it(tmp_path):
    ann = _ann(tmp_path)
    path = open_store(ann).path
    (path / "persons.npy").unlink()
    _refusal(ann, "persons.npy: No such file")


def test_a_record_that_cannot_be_read_names_the_store_and_the_sample(tmp_path):
    store = open_store(_ann(tmp_path))
    with pytest.raises(ValueError, match=r"annotations\.store: sample 7 cannot be read"):
        store.record(7)
    store.scalars["layout"] = ["ntu25"]  # (in memory only) a column shorter than the samples
    with pytest.raises(ValueError, match=r"annotations\.store: sample 1 \(S001C002P001R001A001\) cannot be read"):
        store.record(1)


@pytest.mark.parametrize("kind", ["folder without index.json", "plain file", "folder with another index.json",
                                  "folder with a damaged index.json"])
def test_a_store_path_that_is_not_ours_is_never_renamed_or_removed(tmp_path, kind):
    from extract.fileio import remove_stale_temps
    from pipeline.data.store import StoreWriter

    ann = _ann(tmp_path)
    path = store_path(ann)
    if kind == "plain file":
        path.write_bytes(b"my notes\n")
    else:
        path.mkdir()
        (path / "mine.txt").write_text("precious")
        if kind == "folder with another index.json":
            (path / "index.json").write_text('{"version": 3, "pages": []}')
        elif kind == "folder with a damaged index.json":
            (path / "index.json").write_text("{")
    before = _tree(path)
    _refusal(ann, "exists and is not a sample store made by this project", "left as it is")
    with pytest.raises(ValueError, match="not a sample store made by this project"):
        open_store(ann, build=False)
    with pytest.raises(ValueError, match="not a sample store made by this project"):
        write_store(_records(1), {}, path)
    with pytest.raises(ValueError, match="not a sample store made by this project"):
        StoreWriter(path)
    remove_stale_temps(tmp_path)
    assert _tree(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotations.pkl", "annotations.store"]


def test_a_folder_that_appears_while_writing_is_not_replaced(tmp_path):
    from pipeline.data.store import StoreWriter

    target = tmp_path / "x.store"
    writer = StoreWriter(target)
    for rec in _records(1):
        writer.add(rec)
    target.mkdir()
    (target / "mine.txt").write_text("precious")
    with pytest.raises(ValueError, match=r"x\.store: exists and is not a sample store made by this project"):
        writer.close({})
    assert [p.name for p in tmp_path.iterdir()] == ["x.store"]  # the temp is gone, the folder kept
    assert (target / "mine.txt").read_text() == "precious"


def test_our_own_older_store_is_replaced_without_leftovers(tmp_path):
    write_store(_records(1), {}, tmp_path / "x.store")
    write_store(_records(2), {}, tmp_path / "x.store")
    assert len(SampleStore(tmp_path / "x.store")) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["x.store"]


def test_a_record_without_frames_is_refused_by_the_writer(tmp_path):
    rec = _records(1)[0]
    rec["keypoint"] = rec["keypoint"][:, :0]
    with pytest.raises(ValueError, match=r"x\.store: record S001C001P001R001A001 has no frames"):
        write_store([rec], {}, tmp_path / "x.store")
    assert not list(tmp_path.iterdir())
