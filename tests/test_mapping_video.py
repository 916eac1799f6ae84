"""Estimator-to-skeleton joint mapping and frame streaming, on the real NTU clip."""
import numpy as np
import pytest

from extract.mapping import map_keypoints, mapping_matrix, world_to_kinect
from extract.video import VideoError, iter_frames, probe_video
from models.layouts import get_layout

NTU_RGB = "tests/assets/ntu_sample/S001C001P001R001A001_rgb.avi"


@pytest.mark.parametrize("source, target", [("blazepose33", "ntu25"), ("blazepose33", "kinect_v1_20"),
                                            ("coco17", "ntu25"), ("coco17", "kinect_v1_20")])
def test_every_target_joint_is_a_weighted_mean(source, target):
    w, supplied = mapping_matrix(source, target)
    assert w.shape == (get_layout(target).num_joints, get_layout(source).num_joints)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    assert supplied.all() if source == "blazepose33" else not supplied.all()


def test_blazepose_to_ntu_picks_the_right_landmarks_and_scores():
    blaze = get_layout("blazepose33")
    pts = np.zeros((33, 2), np.float32)
    pts[:, 0] = np.arange(33)
    sc = np.ones(33, np.float32)
    sc[blaze.index("left_pinky")] = 0.2
    out, osc = map_keypoints(pts, sc, "blazepose33", "ntu25")
    ntu = get_layout("ntu25")
    assert out[ntu.index("left_elbow"), 0] == blaze.index("left_elbow")
    assert out[ntu.index("spine_base"), 0] == (blaze.index("left_hip") + blaze.index("right_hip")) / 2
    assert osc[ntu.index("left_hand")] == pytest.approx(0.2)  # weakest landmark of the palm
    assert osc[ntu.index("right_hand")] == 1.0


def test_mirrored_images_swap_sides_explicitly():
    blaze, ntu = get_layout("blazepose33"), get_layout("ntu25")
    pts = np.zeros((33, 2), np.float32)
    pts[blaze.index("left_wrist")] = (100, 0)
    pts[blaze.index("right_wrist")] = (900, 0)
    plain, _ = map_keypoints(pts, np.ones(33), mirrored=False)
    mirrored, _ = map_keypoints(pts, np.ones(33), mirrored=True)
    assert plain[ntu.index("left_wrist"), 0] == 100 and mirrored[ntu.index("left_wrist"), 0] == 900
    np.testing.assert_allclose(world_to_kinect(np.array([1.0, 2.0, 3.0])), [-1, -2, 3])
    np.testing.assert_allclose(world_to_kinect(np.array([1.0, 2.0, 3.0]), mirrored=True), [1, -2, 3])


def test_coco_cannot_supply_hands_and_says_so():
    out, sc = map_keypoints(np.random.rand(17, 2), np.ones(17), "coco17", "ntu25")
    ntu = get_layout("ntu25")
    assert sc[ntu.index("left_hand")] == 0 and sc[ntu.index("left_wrist")] == 1
    with pytest.raises(ValueError, match="no joint mapping from coco17 to blazepose33"):
        mapping_matrix("coco17", "blazepose33")


def test_video_streams_resized_frames_and_names_bad_files(tmp_path):
    info = probe_video(NTU_RGB)
    assert (info["frames"], info["width"], info["height"]) == (103, 1920, 1080)
    frames = list(iter_frames(NTU_RGB, max_width=640))
    assert len(frames) == 103 and frames[0].shape == (360, 640, 3) and frames[0].dtype == np.uint8
    with pytest.raises(FileNotFoundError, match="missing.mp4: file not found"):
        probe_video(tmp_path / "missing.mp4")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(VideoError, match="notes.mp4: not a readable video"):
        probe_video(tmp_path / "notes.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty.mp4: empty file"):
        probe_video(tmp_path / "empty.mp4")
