"""The shared contracts: joint layouts, safe pickles, atomic writes, the heatmap renderer."""
import os
import pickle

import numpy as np
import pytest
import torch

from extract.fileio import UnsafePickleError, atomic_open, atomic_pickle_dump, safe_pickle_load
from models.heatmaps import normalize_to_person_box, render_heatmaps
from models.layouts import LAYOUTS, get_layout


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_is_a_tree_rooted_at_its_centre(name):
    lay = get_layout(name)
    for v in range(lay.num_joints):  # every joint reaches the centre without cycles
        seen, j = set(), v
        while lay.parents[j] != j:
            assert j not in seen
            seen.add(j)
            j = lay.parents[j]
        assert j == lay.center
    flip = lay.flip_index
    assert sorted(flip) == list(range(lay.num_joints)) and (flip[flip] == np.arange(lay.num_joints)).all()
    for left, right in lay.flip_pairs:
        assert "left" in lay.joint_names[left] and "right" in lay.joint_names[right]


def test_unknown_layout_names_the_choices():
    with pytest.raises(ValueError, match="ntu25"):
        get_layout("ntu26")


def test_safe_pickle_round_trips_arrays_and_refuses_code(tmp_path):
    data = dict(split=dict(a=["x"]), annotations=[dict(keypoint=np.ones((1, 2, 25, 3), np.float32), label=3,
                                                      img_shape=(1080, 1920))])
    atomic_pickle_dump(data, tmp_path / "ok.pkl")
    back = safe_pickle_load(tmp_path / "ok.pkl")
    assert back["annotations"][0]["keypoint"].dtype == np.float32
    assert back["annotations"][0]["img_shape"] == (1080, 1920)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(UnsafePickleError, match="evil.pkl"):
        safe_pickle_load(tmp_path / "evil.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="junk.pkl: not a readable pickle"):
        safe_pickle_load(tmp_path / "junk.pkl")


def test_atomic_open_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as f:
            f.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_heatmap_peak_sits_at_the_keypoint_and_scales_with_score():
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.25], [0.3, 0.3]], np.float32)
    scores = np.array([1.0, 0.5, 1.0, 0.0], np.float32)
    maps = render_heatmaps(coords, scores, size=(9, 17), sigma=1.0)
    assert maps.shape == (4, 9, 17) and maps.dtype == np.float32
    assert np.unravel_index(maps[0].argmax(), (9, 17)) == (0, 0)
    assert np.unravel_index(maps[1].argmax(), (9, 17)) == (8, 16)
    assert np.unravel_index(maps[2].argmax(), (9, 17)) == (2, 8)
    assert maps[1].max() == pytest.approx(0.5)
    assert maps[3].max() == 0.0
    # torch gives the same maps (the model renders on its own device)
    tmaps = render_heatmaps(torch.from_numpy(coords), torch.from_numpy(scores), size=(9, 17), sigma=1.0)
    np.testing.assert_allclose(tmaps.numpy(), maps, atol=1e-6)


def test_person_box_normalisation_uses_confident_joints_only():
    kp = np.zeros((2, 3, 4, 2), np.float32)
    kp[0, :, :, 0] = [100, 200, 300, 9999]  # last joint is an outlier with score 0
    kp[0, :, :, 1] = [50, 60, 70, 9999]
    sc = np.ones((2, 3, 4), np.float32)
    sc[0, :, 3] = 0
    sc[1] = 0  # a missing second person
    out = normalize_to_person_box(kp, sc, margin=0.0)
    np.testing.assert_allclose(out[0, 0, :3, 0], [0.0, 0.5, 1.0], atol=1e-6)
    assert out[0, 0, 1, 1] == pytest.approx(0.5)
    assert (out[1] == 0.5).all()
