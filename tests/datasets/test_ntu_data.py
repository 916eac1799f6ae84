"""The NTU data layer on the real sample: reader, names, splits, body selection, annotation files."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.annotations import load_annotations
from pipeline.datasets.ntu.source import build_ntu_record
from pipeline.datasets.ntu.bodies import select_bodies
from extract.fileio import atomic_pickle_dump
from pipeline.datasets.ntu.names import make_splits, missing_skeletons, parse_sample_name
from pipeline.datasets.ntu.skeleton import SkeletonFormatError, read_skeleton

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests/assets/ntu_sample/S001C001P001R001A001.skeleton"


def test_reader_matches_the_known_values_of_the_real_file():
    seq = read_skeleton(SAMPLE)
    assert seq.num_frames == 103 and len(seq.bodies) == 1
    body = seq.bodies[0]
    assert body.joints.shape == (103, 25, 12)
    np.testing.assert_allclose(body.xyz[0, 0], [0.2181153, 0.1725972, 3.785547], rtol=1e-6)
    np.testing.assert_allclose(body.color_xy[0, 0], [1036.233, 519.1677], rtol=1e-6)
    assert body.tracking[0, 0] == 2
    assert body.body_id == "72057594037931101"
    assert (body.frames == np.arange(103)).all()
    assert set(np.unique(body.tracking)) <= {0, 1, 2}


def _lines():
    return SAMPLE.read_text().splitlines()


@pytest.mark.parametrize("case, message", [
    ("empty", "line 1: empty file"),
    ("truncated", "line 40: unexpected end of file inside frame 2"),
    ("joint_count", "line 4: joint count 24, expected 25"),
    ("non_numeric", "line 5: non-numeric value"),
    ("few_values", "line 6: expected 12 values, got 11"),
    ("bad_frame_count", "line 1: expected the frame count"),
    ("trailing", "unexpected content after the last of 103 frames"),
])
def test_broken_files_get_an_error_naming_file_and_line(tmp_path, case, message):
    lines = _lines()
    if case == "empty":
        lines = []
    elif case == "truncated":
        lines = lines[:39]
    elif case == "joint_count":
        lines[3] = "24"
    elif case == "non_numeric":
        lines[4] = lines[4].replace(lines[4].split()[1], "abc", 1)
    elif case == "few_values":
        lines[5] = " ".join(lines[5].split()[:11])
    elif case == "bad_frame_count":
        lines[0] = "1o3"
    elif case == "trailing":
        lines.append("1")
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("\n".join(lines))
    with pytest.raises(SkeletonFormatError) as err:
        read_skeleton(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_file_is_named():
    with pytest.raises(FileNotFoundError, match="nowhere.skeleton"):
        read_skeleton("/nonexistent/nowhere.skeleton")


def test_sample_names_parse_and_validate():
    name = parse_sample_name("nturgb+d_rgb/S017C003P020R002A060_rgb.avi")
    assert (name.setup, name.camera, name.performer, name.replication, name.action) == (17, 3, 20, 2, 60)
    assert name.label == 59 and name.two_person and str(name) == "S017C003P020R002A060"
    for bad in ["S001C001P001R001", "S001C004P001R001A001", "S001C001P001R001A121", "X001C001P001R001A001"]:
        with pytest.raises(ValueError, match="S"):
            parse_sample_name(bad)


def test_splits_follow_the_protocols():
    names = ["S001C001P001R001A001", "S001C002P003R001A001", "S018C003P045R001A061", "S019C001P044R002A120"]
    s60 = make_splits(names[:2], "ntu60")
    assert s60["xsub_train"] == ["S001C001P001R001A001"] and s60["xsub_val"] == ["S001C002P003R001A001"]
    assert s60["xview_train"] == ["S001C002P003R001A001"] and s60["xview_val"] == ["S001C001P001R001A001"]
    s120 = make_splits(names, "ntu120")
    assert set(s120) == {"xsub_train", "xsub_val", "xset_train", "xset_val"}
    assert s120["xsub_train"] == ["S001C001P001R001A001", "S018C003P045R001A061"]
    assert s120["xset_train"] == ["S018C003P045R001A061"]
    assert len(missing_skeletons("ntu60")) == 302 and len(missing_skeletons("ntu120")) == 535
    assert "S001C002P005R002A008" in missing_skeletons("ntu60")


def _write_multibody(tmp_path: Path) -> Path:
    """The real file with two extra bodies: a short noise body (5 frames) and a second real-looking person."""
    lines = _lines()
    out = [lines[0]]
    i = 1
    for t in range(103):
        n = int(lines[i])
        block = lines[i + 1: i + 1 + 27 * n]
        i += 1 + 27 * n
        bodies = [block]
        # second person: the same motion shifted 0.8 m sideways, entering at frame 10
        if t >= 10:
            moved = [block[0].replace(block[0].split()[0], "222", 1), block[1]]
            for line in block[2:]:
                v = line.split()
                v[0] = f"{float(v[0]) + 0.8:.6f}"
                moved.append(" ".join(v))
            bodies.append(moved)
        if t < 5:  # a noise body: 5 frames, wide and static
            noise = ["333 0 0 0 0 0 0 0 0 2", "25"] + [f"{j * 0.1:.3f} 0.0 3.0 0 0 0 0 0 0 0 0 2" for j in range(25)]
            bodies.append(noise)
        out.append(str(len(bodies)))
        for b in bodies:
            out.extend(b)
    path = tmp_path / "S001C001P001R001A050.skeleton"
    path.write_text("\n".join(out) + "\n")
    return path


def test_body_selection_drops_noise_and_orders_people(tmp_path):
    path = _write_multibody(tmp_path)
    seq = read_skeleton(path)
    assert len(seq.bodies) == 3
    kept = select_bodies(seq)
    assert [b.body_id for b in kept] == ["72057594037931101", "222"]  # noise dropped, first-comer first
    rec = build_ntu_record(path)
    assert rec["keypoint"].shape == (2, 103, 25, 3) and rec["label"] == 49
    assert (rec["keypoint"][1, :10] == 0).all()  # padded before the second person enters
    orig = read_skeleton(SAMPLE).bodies[0].xyz
    np.testing.assert_allclose(rec["keypoint"][1, 10:, :, 0], orig[10:, :, 0] + 0.8, atol=1e-5)


def test_record_matches_raw_file_and_round_trips(tmp_path):
    rec = build_ntu_record(SAMPLE)
    raw = read_skeleton(SAMPLE).bodies[0]
    assert rec["frame_dir"] == "S001C001P001R001A001" and rec["label"] == 0 and rec["total_frames"] == 103
    assert rec["keypoint"].dtype == np.float32 and rec["keypoint"].shape == (1, 103, 25, 3)
    np.testing.assert_array_equal(rec["keypoint"][0], raw.xyz)
    np.testing.assert_array_equal(rec["kinect_color"][0], raw.color_xy)
    atomic_pickle_dump(dict(split={"xsub_train": ["S001C001P001R001A001"]}, annotations=[rec]), tmp_path / "a.pkl")
    data = load_annotations(tmp_path / "a.pkl")
    assert data["annotations"][0]["layout"] == "ntu25"


def test_pyskl_style_file_is_accepted_and_bad_files_rejected(tmp_path):
    pyskl = dict(split=dict(xsub_train=["S001C001P001R001A001"]),
                 annotations=[dict(frame_dir="S001C001P001R001A001", label=0, img_shape=(1080, 1920),
                                   total_frames=5, keypoint=np.zeros((1, 5, 25, 3), np.float32))])
    atomic_pickle_dump(pyskl, tmp_path / "ntu60_3danno.pkl")
    rec = load_annotations(tmp_path / "ntu60_3danno.pkl")["annotations"][0]
    assert rec["layout"] == "ntu25"
    pyskl["split"]["xsub_val"] = ["S999"]
    atomic_pickle_dump(pyskl, tmp_path / "bad.pkl")
    with pytest.raises(ValueError, match="bad.pkl: split 'xsub_val'"):
        load_annotations(tmp_path / "bad.pkl")
    atomic_pickle_dump([1, 2], tmp_path / "list.pkl")
    with pytest.raises(ValueError, match="list.pkl: not an annotation file"):
        load_annotations(tmp_path / "list.pkl")


def test_make_extract_end_to_end_on_a_tiny_data_root(tmp_path):
    root = tmp_path / "root"
    skel = root / "nturgb+d_skeletons"
    skel.mkdir(parents=True)
    (skel / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
    (skel / "S001C002P001R001A002.skeleton").write_text("\n".join(_lines()[:50]))  # truncated
    (skel / "S001C002P005R002A008.skeleton").write_bytes(SAMPLE.read_bytes())  # on the missing list
    (skel / "S018C001P045R001A061.skeleton").write_bytes(SAMPLE.read_bytes())  # NTU120 only
    out = tmp_path / "out"
    cmd = ["make", "-s", "extract", "DATASET=ntu60", f"DATA_ROOT={root}", f"OUT={out}", "POSE=none", "WORKERS=2",
           f"VENV={Path(sys.executable).parents[1]}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0  # one file failed
    assert "FAILED S001C002P001R001A002" in proc.stdout and "line 51" in proc.stdout
    data = load_annotations(out / "annotations.pkl")
    assert [r["frame_dir"] for r in data["annotations"]] == ["S001C001P001R001A001"]
    assert data["split"]["xsub_train"] == ["S001C001P001R001A001"]
    np.testing.assert_array_equal(data["annotations"][0]["keypoint"][0], read_skeleton(SAMPLE).bodies[0].xyz)
    # fix the broken file and re-run: the good sample is skipped, the failed one retried, exit 0
    (skel / "S001C002P001R001A002.skeleton").write_bytes(SAMPLE.read_bytes())
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "extracted 1, already done 1, failed 0" in proc.stdout
    assert len(load_annotations(out / "annotations.pkl")["annotations"]) == 2
