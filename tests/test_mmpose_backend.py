"""The optional mmpose backend (installed by `make setup-mmpose`, which `make test` runs first).

No trained mmpose weights can be fetched here, so these tests build a real config shipped inside the mmpose
wheel (RTMPose-t, COCO-17) with random weights saved as a checkpoint file: they check the plumbing (config
and checkpoint loading, crops, mapping to NTU-25, the stored fields, errors), not pose accuracy.
"""
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mmpose", reason="mmpose extra not installed: run `make setup-mmpose` (make test does)")

from extract.align import estimate_sample_pose  # noqa: E402
from extract.backends import build_estimator  # noqa: E402
from extract.mapping import mapping_matrix  # noqa: E402
from extract.mmpose_compat import install_placeholders  # noqa: E402
from pipeline.data.annotations import load_annotations  # noqa: E402
from pipeline.datasets.ntu.source import build_ntu_record
from models.layouts import get_layout  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests/assets/ntu_sample"
SKELETON = SAMPLE / "S001C001P001R001A001.skeleton"
VIDEO = SAMPLE / "S001C001P001R001A001_rgb.avi"
CONFIG = "body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_aic-coco-256x192.py"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Random RTMPose-t weights in OpenMMLab's checkpoint layout ({'meta': ..., 'state_dict': ...})."""
    import torch

    est = build_estimator("mmpose", config=CONFIG, checkpoint=None, allow_random_weights=True)
    path = tmp_path_factory.mktemp("mmpose") / "rtmpose-t_random.pth"
    torch.save({"meta": {"note": "random init"}, "state_dict": est.model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def estimator(checkpoint):
    return build_estimator("mmpose", config=CONFIG, checkpoint=str(checkpoint))


def test_mmpose_imports_on_mmcv_lite_with_placeholders_for_compiled_ops():
    replaced = install_placeholders()
    assert "mmcv.ops" in replaced  # mmcv-lite has no compiled ops
    from mmcv.ops import nms  # noqa: F401 - a placeholder, importable
    from mmcv.ops import RoIAlign

    with pytest.raises(RuntimeError, match="compiled mmcv ops"):
        RoIAlign(7)


def test_checkpoint_weights_are_loaded(checkpoint, estimator):
    import torch

    saved = torch.load(checkpoint, weights_only=True)["state_dict"]
    name = next(k for k, v in saved.items() if v.dtype.is_floating_point and v.numel() > 100)
    assert torch.equal(estimator.model.state_dict()[name], saved[name])


def test_a_crop_gives_17_coco_keypoints_inside_it(estimator):
    import cv2

    cap = cv2.VideoCapture(str(VIDEO))
    ok, bgr = cap.read()
    assert ok
    crop = np.ascontiguousarray(bgr[200:900, 700:1200, ::-1])
    kp, score, world = estimator.new_session().estimate(crop)
    assert kp.shape == (17, 2) and score.shape == (17,) and world is None
    # crop pixels; the model's input box is the crop grown to its 3:4 aspect and padded 1.25x
    size = np.array([500, 700])
    assert np.all((kp >= -0.3 * size) & (kp <= 1.3 * size))
    assert kp.max() > 50  # not all collapsed at the origin
    assert np.all((score >= 0) & (score <= 1))


def test_sample_pose_has_the_ntu_layout_and_zero_scores_where_coco_has_no_joint(estimator):
    record = build_ntu_record(SKELETON)
    out = estimate_sample_pose(VIDEO, record, estimator)
    assert out["pose_keypoint"].shape == (1, 103, 25, 2) and out["pose_score"].shape == (1, 103, 25)
    assert "pose_world" not in out and out["pose_source"] == "mmpose"
    _, supplied = mapping_matrix("coco17", "ntu25")
    names = get_layout("ntu25").joint_names
    absent = [names[j] for j in np.flatnonzero(~supplied)]
    assert {"left_hand_tip", "right_thumb"} <= set(absent)
    assert np.all(out["pose_score"][..., ~supplied] == 0)
    assert out["pose_score"][..., supplied].max() > 0
    assert out["quality"]["frames_used"] == 103
    # random weights put the joints anywhere in the crop, but the crop is the Kinect body's padded box:
    # every keypoint stays within it, on that person
    color = record["kinect_color"][0]
    lo, hi = color.min(axis=1), color.max(axis=1)  # (T, 2)
    side = (hi - lo).max(axis=1, keepdims=True)
    kp = out["pose_keypoint"][0]
    assert np.all(kp >= (lo - side)[:, None] - 2) and np.all(kp <= (hi + side)[:, None] + 2)


def _ntu_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for sub, f in (("nturgb+d_skeletons", SKELETON), ("nturgb+d_rgb", VIDEO)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / f.name).write_bytes(f.read_bytes())
    return root


def _make_extract(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = ["make", "-s", "extract", "DATASET=ntu60", f"DATA_ROOT={_ntu_root(tmp_path)}", f"OUT={tmp_path / 'out'}",
           "POSE=mmpose", "WORKERS=1", f"VENV={Path(sys.executable).parents[1]}", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_make_extract_with_mmpose_writes_the_pose_fields(tmp_path, checkpoint):
    proc = _make_extract(tmp_path, f"POSE_CONFIG={CONFIG}", f"POSE_CHECKPOINT={checkpoint}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = load_annotations(tmp_path / "out/annotations.pkl")["annotations"][0]
    assert rec["pose_keypoint"].shape == (1, 103, 25, 2) and rec["pose_keypoint"].dtype == np.float32
    assert rec["pose_source"] == "mmpose" and "pose_world" not in rec


def test_a_checkpoint_that_needs_unpickling_is_refused(tmp_path):
    bad = tmp_path / "evil.pth"
    bad.write_bytes(pickle.dumps({"state_dict": Path("/etc/passwd")}))  # not a plain tensor file
    proc = _make_extract(tmp_path, f"POSE_CONFIG={CONFIG}", f"POSE_CHECKPOINT={bad}")
    assert proc.returncode == 2
    assert f"{bad}: not a readable weights-only checkpoint" in proc.stderr
    assert not (tmp_path / "out/annotations.pkl").exists()


def test_a_checkpoint_for_another_model_is_refused(tmp_path):
    import torch

    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, other)
    proc = _make_extract(tmp_path, f"POSE_CONFIG={CONFIG}", f"POSE_CHECKPOINT={other}")
    assert proc.returncode == 2 and f"{other}: does not match" in proc.stderr


def test_missing_config_or_checkpoint_is_one_clear_line(tmp_path, checkpoint):
    proc = _make_extract(tmp_path, "POSE_CONFIG=no/such_config.py", f"POSE_CHECKPOINT={checkpoint}")
    assert proc.returncode == 2 and "no/such_config.py: no such mmpose config" in proc.stderr
    proc = _make_extract(tmp_path, f"POSE_CONFIG={CONFIG}")
    assert proc.returncode == 2 and "POSE_CHECKPOINT" in proc.stderr
