"""The peers' files in and out: pyskl / mmaction2 3D and 2D annotation files train with our configs unchanged,
and our records export to what mmaction2's 2D configs read.

The files are written here exactly as pyskl's and mmaction2's converters write them (float16 3D keypoints,
no img_shape, no layout, no pose fields; 2D COCO-17 keypoints + keypoint_score), from the real NTU sample.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from _tools import run_tool

from models.layouts import get_layout
from pipeline.data.annotations import load_annotations
from pipeline.datasets.ntu.source import build_ntu_record

ROOT = Path(__file__).resolve().parents[2]
SKELETON = ROOT / "tests/assets/ntu_sample/S001C001P001R001A001.skeleton"
SMALL = ["model.branch_channels=(8,8)", "model.main_channels=(16,)", "train.batch_size=2", "train.epochs=1",
         "train.num_workers=0", "train.test_batch_size=2", "train.warmup_epochs=0"]
# NTU samples of one real recording under names in both xsub halves (performer 1 trains, 3 tests)
NAMES = ["S001C001P001R001A001", "S001C002P001R001A002", "S001C001P003R001A001", "S001C002P003R001A002"]


def _real():
    return build_ntu_record(SKELETON)


def _pyskl_3d(path: Path) -> Path:
    """As pyskl's ntu60_3danno.pkl: float16 keypoint (M, T, 25, 3), frame_dir, label, total_frames only."""
    rec = _real()
    anns = [dict(frame_dir=n, label=int(n[-3:]) - 1, total_frames=rec["total_frames"],
                 keypoint=rec["keypoint"].astype(np.float16)) for n in NAMES]
    split = dict(xsub_train=NAMES[:2], xsub_val=NAMES[2:], xview_train=NAMES[1::2], xview_val=NAMES[::2])
    path.write_bytes(pickle.dumps(dict(split=split, annotations=anns), protocol=4))
    return path


def _coco17_from_ntu25(xy: np.ndarray) -> np.ndarray:
    """COCO-17 pixels from NTU-25 colour joints (face points all at the head): a stand-in for HRNet output."""
    ntu, coco = get_layout("ntu25"), get_layout("coco17")
    src = {n: ntu.index(n) for n in ntu.joint_names}
    idx = [src.get(n, src["head"]) for n in coco.joint_names]
    return xy[:, :, idx]


def _mmaction_2d(path: Path) -> Path:
    """As mmaction2's ntu60_hrnet.pkl: keypoint (M, T, 17, 2) float32 pixels, keypoint_score, img_shape."""
    rec = _real()
    kp = _coco17_from_ntu25(rec["kinect_color"]).astype(np.float32)
    score = (np.abs(kp).sum(-1) > 0).astype(np.float32) * 0.9
    anns = [dict(frame_dir=n, label=int(n[-3:]) - 1, total_frames=rec["total_frames"], img_shape=(1080, 1920),
                 original_shape=(1080, 1920), keypoint=kp, keypoint_score=score) for n in NAMES]
    split = dict(xsub_train=NAMES[:2], xsub_val=NAMES[2:])
    path.write_bytes(pickle.dumps(dict(split=split, annotations=anns), protocol=4))
    return path


def test_a_pyskl_3d_file_trains_and_evaluates_with_the_shipped_ntu_config(capsys, tmp_path):
    ann = _pyskl_3d(tmp_path / "ntu60_3danno.pkl")
    rec = load_annotations(ann)["annotations"][0]
    assert rec["layout"] == "ntu25" and rec["keypoint"].dtype == np.float16
    config = ROOT / "configs/pggcn_ntu60_xsub.py"
    rc, out, err = run_tool(capsys, "train", config, "--ann-file", ann, "--work-dir", tmp_path / "w",
                            "--cfg-options", *SMALL)
    assert rc == 0, err
    assert "pose stream input: camera projection of the 3D joints (fallback" in out
    rc, out, err = run_tool(capsys, "test", config, "--ann-file", ann, "--checkpoint", tmp_path / "w/last.pth",
                            "--work-dir", tmp_path / "e")
    assert rc == 0, err
    assert (tmp_path / "e/metrics.json").is_file()


def test_pose_input_none_trains_a_pyskl_file_without_the_pose_stream(capsys, tmp_path):
    ann = _pyskl_3d(tmp_path / "ntu60_3danno.pkl")
    rc, out, err = run_tool(capsys, "train", ROOT / "configs/pggcn_ntu60_xsub.py", "--ann-file", ann,
                            "--work-dir", tmp_path / "w", "--cfg-options", *SMALL, "model.pose_input=None")
    assert rc == 0, err
    assert "pose stream input: none" in out


def test_a_2d_coco17_file_trains_with_the_2d_config(capsys, tmp_path):
    ann = _mmaction_2d(tmp_path / "ntu60_hrnet.pkl")
    config = ROOT / "configs/pggcn_ntu60_xsub_2d.py"
    rc, out, err = run_tool(capsys, "train", config, "--ann-file", ann, "--work-dir", tmp_path / "w",
                            "--cfg-options", *SMALL)
    assert rc == 0, err
    assert "pose stream input: keypoint (2D file) 2D keypoints" in out
    rc, _, err = run_tool(capsys, "test", config, "--ann-file", ann, "--checkpoint", tmp_path / "w/last.pth",
                          "--work-dir", tmp_path / "e")
    assert rc == 0, err


def test_a_2d_file_under_a_3d_config_is_refused_in_one_line(capsys, tmp_path):
    ann = _mmaction_2d(tmp_path / "ntu60_hrnet.pkl")
    rc, out, err = run_tool(capsys, "train", ROOT / "configs/pggcn_ntu60_xsub.py", "--ann-file", ann,
                            "--work-dir", tmp_path / "w", "--cfg-options", *SMALL)
    assert rc == 2 and "Traceback" not in out + err
    assert err.count("error:") == 1 and "2D keypoints" in err and "pggcn_ntu60_xsub_2d.py" in err


@pytest.mark.parametrize("fields", ["pose", "kinect"])
def test_export_to_mmaction2_2d_format(capsys, tmp_path, fields):
    rec = _real()
    t = rec["total_frames"]
    if fields == "pose":  # our extraction's fields: NTU-25 pose_keypoint / pose_score
        rec.update(pose_keypoint=rec["kinect_color"] + 1.0, pose_score=np.full(rec["keypoint"].shape[:3], 0.8,
                                                                              np.float32), pose_source="mediapipe")
    src = tmp_path / "annotations.pkl"
    src.write_bytes(pickle.dumps(dict(split=dict(xsub_train=[rec["frame_dir"]]), annotations=[rec])))
    out = tmp_path / "mm2d.pkl"
    rc, stdout, err = run_tool(capsys, "convert", "--to", "mmaction2-2d", src, out)
    if fields == "kinect":  # no estimator output: nothing honest to export
        assert rc == 2 and "pose_keypoint" in err
        return
    assert rc == 0, err
    data = pickle.loads(out.read_bytes())
    ann = data["annotations"][0]
    assert data["split"] == dict(xsub_train=[rec["frame_dir"]])
    assert ann["keypoint"].shape == (1, t, 17, 2) and ann["keypoint_score"].shape == (1, t, 17)
    assert ann["img_shape"] == (1080, 1920) and ann["total_frames"] == t and ann["label"] == 0
    coco, ntu = get_layout("coco17"), get_layout("ntu25")
    ls = coco.index("left_shoulder")
    np.testing.assert_allclose(ann["keypoint"][0, :, ls], rec["pose_keypoint"][0, :, ntu.index("left_shoulder")])
    assert (ann["keypoint_score"][0, :, coco.index("left_eye")] == 0).all()  # NTU-25 has no eyes: score 0
    assert (ann["keypoint_score"][0, :, ls] == pytest.approx(0.8))
