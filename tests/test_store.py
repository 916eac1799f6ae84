"""The memory-mapped sample store and the streaming merge, on real NTU and NW-UCLA records."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from extract.fileio import safe_pickle_load
from pipeline.annotations import build_ntu_record, load_annotations, save_annotations, stream_annotations
from pipeline.config import load_config
from pipeline.dataset import SkeletonDataset
from pipeline.nwucla import DEFAULT_ANN, import_nwucla
from pipeline.store import SampleStore, open_store, store_path, write_store

ROOT = Path(__file__).resolve().parents[1]
SKELETON = ROOT / "tests/data/ntu_sample/S001C001P001R001A001.skeleton"


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
    from pipeline.extraction import ExtractConfig, run

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
