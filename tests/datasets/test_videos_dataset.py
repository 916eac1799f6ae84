"""Your own videos: a folder of labelled clips -> extract -> train -> eval -> infer_video with your labels.

The clips are cut at test time from the shipped real videos (three people exercising; people walking up to a
table), so the labels are real: what each piece shows. (Not the arm-wrestling close-up: without a torso in
view the pose estimator finds no body there, only momentary false poses.)"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from _tools import cut_clip, run_tool

from pipeline.datasets.videos import Clip, assign_splits, discover, split_warnings

ROOT = Path(__file__).resolve().parents[2]
VIDEOS = ROOT / "tests/assets/videos"




@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    """Two real actions, one sub-folder each, plus a broken clip that must fail alone."""
    root = tmp_path_factory.mktemp("my_clips")
    for i in range(4):
        cut_clip(VIDEOS / "group_exercise_3p_384x288.avi", root / "exercise" / f"ex{i}.mp4", 20 + 90 * i, 40)
        cut_clip(VIDEOS / "people_walk_to_table_768x432.mp4", root / "walk to table" / f"wt{i}.mp4", 40 + 45 * i, 30)
    (root / "walk to table" / "broken.mp4").write_bytes(b"not a video at all" * 10)
    return root


@pytest.fixture(scope="module")
def extracted(clip_folder, tmp_path_factory):

    from pipeline.datasets.videos import VideoExtractConfig, run_videos

    out = tmp_path_factory.mktemp("videos_out")
    result = run_videos(VideoExtractConfig(data_root=clip_folder, out=out), progress=False)
    return out, result


def test_a_folder_of_clips_becomes_an_annotation_file_with_label_names(extracted):
    from pipeline.data.annotations import load_annotations

    out, result = extracted
    assert list(result.failures) == ["walk to table/broken"] and "broken.mp4" in result.failures["walk to table/broken"]
    data = load_annotations(out / "annotations.pkl")
    assert data["label_names"] == ["exercise", "walk to table"]
    recs = {r["frame_dir"]: r for r in data["annotations"]}
    assert len(recs) == 8
    rec = recs["exercise/ex0"]
    m, t = rec["keypoint"].shape[:2]
    assert rec["label"] == 0 and rec["layout"] == "ntu25" and 1 <= m <= 2 and t == 40
    assert rec["keypoint"].shape == (m, t, 25, 3) and rec["pose_keypoint"].shape == (m, t, 25, 2)
    assert rec["fps"] == pytest.approx(10, abs=0.5) and rec["img_shape"] == (288, 384)
    present = (np.abs(rec["keypoint"]).sum(-1) > 0).any(-1).sum(1)
    assert list(present) == sorted(present, reverse=True)  # the person seen longest comes first
    assert sorted(data["split"]["train"] + data["split"]["val"]) == sorted(recs)
    assert json.loads((out / "failures.json").read_text()) == result.failures


def test_train_eval_and_infer_with_the_users_own_labels(capsys, extracted, tmp_path):
    out, _ = extracted
    ann = out / "annotations.pkl"
    opts = ["--cfg-options", "train.epochs=2", "train.repeat=2", "train.warmup_epochs=0"]
    config = ROOT / "configs/pggcn_videos.py"
    rc, stdout, err = run_tool(capsys, "train", config, "--ann-file", ann, "--work-dir", tmp_path / "w", *opts)
    assert rc == 0, err
    rc, stdout, err = run_tool(capsys, "test", config, "--ann-file", ann, "--checkpoint", tmp_path / "w/last.pth",
                               "--work-dir", tmp_path / "e")
    assert rc == 0, err
    assert "walk to table" in (tmp_path / "e/per_class.csv").read_text()
    clip = cut_clip(VIDEOS / "group_exercise_3p_384x288.avi", tmp_path / "new_clip.mp4", 150, 60)
    rc, stdout, err = run_tool(capsys, "infer_video", clip, "--checkpoint", tmp_path / "w/last.pth", "--json",
                               tmp_path / "r.json", "--quiet")
    assert rc == 0, err
    result = json.loads((tmp_path / "r.json").read_text())
    assert {p["label"] for p in result["predictions"]} == {"exercise", "walk to table"}


def test_fine_tuning_from_the_default_model_maps_the_layout(capsys, extracted, tmp_path):
    out, _ = extracted
    rc, stdout, err = run_tool(capsys, "train", ROOT / "configs/pggcn_videos.py", "--ann-file", out / "annotations.pkl",
                               "--work-dir", tmp_path / "ft", "--load-from", ROOT / "checkpoints/pggcn_nwucla_default.pth",
                               "--cfg-options", "train.epochs=1", "train.repeat=1", "train.warmup_epochs=0")
    assert rc == 0, err
    assert "all but the classifier" in stdout
    from pipeline.checkpoint import load_checkpoint

    meta = load_checkpoint(tmp_path / "ft/last.pth")["meta"]
    assert meta["config"]["model"]["layout"] == "kinect_v1_20" and meta["class_names"] == ["exercise",
                                                                                           "walk to table"]
    assert meta["config"]["test_pipeline"][0] == dict(type="MapLayout", target="kinect_v1_20")


def test_labels_csv_layout_and_splits(tmp_path):
    (tmp_path / "a").mkdir()
    rows = []
    for i in range(10):
        (tmp_path / "a" / f"c{i}.mp4").write_bytes(b"")
        rows.append(dict(path=f"a/c{i}.mp4", label="fall" if i % 2 else "sit", person=f"p{i % 5}"))
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "label", "person"])
        w.writeheader()
        w.writerows(rows)
    clips = discover(tmp_path)
    assert [c.name for c in clips][:2] == ["a/c0", "a/c1"] and clips[1].label == "fall"
    split = assign_splits(clips)
    held = {c.person for c in clips if c.name in split["val"]}
    assert len(held) == 1  # 20 % of 5 persons, whole persons only
    assert not held & {c.person for c in clips if c.name in split["train"]}
    assert assign_splits(clips) == split  # deterministic
    with_column = [Clip(c.path, c.name, c.label, c.person, "val" if i < 3 else "train") for i, c in enumerate(clips)]
    assert assign_splits(with_column)["val"] == ["a/c0", "a/c1", "a/c2"]
    plain = [Clip(c.path, c.name, c.label) for c in clips]
    strat = assign_splits(plain)
    assert len(strat["val"]) == 2 and {c.label for c in plain if c.name in strat["val"]} == {"fall", "sit"}


def test_warnings_name_small_classes_and_missing_ones():
    clips = [Clip(Path("x"), "a1", "run"), Clip(Path("x"), "a2", "run"), Clip(Path("x"), "b1", "jump")]
    text = split_warnings(clips, dict(train=["a1", "b1"], val=["a2"]), ["jump", "run"])
    assert "class 'jump' has only 1 clip(s)" in text and "split 'val' has no clip of 'jump'" in text


def test_the_shipped_fall_model_calls_a_held_out_fall_clip_a_fall(capsys, tmp_path):
    clip = ROOT / "tests/assets/gmdcsa24/subject3_fall_19.mp4"  # subject 3: not in the model's training folds
    rc, _, err = run_tool(capsys, "infer_video", clip, "--checkpoint", ROOT / "checkpoints/pggcn_gmdcsa_fall.pth",
                          "--json", tmp_path / "r.json", "--quiet")
    assert rc == 0, err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["predictions"][0]["label"] == "fall" and result["predictions"][0]["score"] > 0.5


def test_records_made_with_other_tracking_settings_are_made_again(tmp_path):
    """A part or merged file tracked otherwise (e.g. every 2nd frame, or by an older tracker, which did not record
    its revision) is not reused for this extraction."""
    from pipeline.datasets.runner import merged_names
    from pipeline.datasets.videos import TRACKING, VideoExtractConfig, VideoSource

    (tmp_path / "clips" / "a").mkdir(parents=True)
    source = VideoSource(VideoExtractConfig(data_root=tmp_path / "clips", out=tmp_path / "out"))
    assert source.part_ok(dict(tracking=dict(TRACKING)))
    assert not source.part_ok(dict())  # made before the tracker's revision was recorded: by an older tracker
    assert not source.part_ok(dict(tracking=dict(every=1, max_width=960)))  # made before the revision was recorded
    assert not source.part_ok(dict(tracking=dict(TRACKING, every=2)))
    assert source.made_by()["tracking"] == TRACKING
    out = tmp_path / "out"
    out.mkdir()
    (out / "annotations.pkl").write_bytes(b"x")
    for tracking, reused in ((TRACKING, True), (dict(TRACKING, every=2), False), (None, False)):
        manifest = dict(dataset="videos", names=["a/x"], **({"tracking": tracking} if tracking else {}))
        (out / "annotations.json").write_text(json.dumps(manifest))
        assert merged_names(out, source.made_by()) == ({"a/x"} if reused else set())


def test_worker_processes_give_the_records_of_one_even_after_the_caller_ran_a_landmarker(tmp_path):
    """WORKERS=2 spawns its workers: forked from a process whose landmarker threads had run, they crashed
    (`malloc(): unaligned tcache chunk detected`, the pool broken). Workers, their threads and the discovery
    landmarker each worker lends to its clips change the speed only, never a record."""
    from extract.multiperson import MultiPersonPose
    from extract.video import iter_frames
    from pipeline.data.annotations import load_annotations
    from pipeline.datasets.videos import VideoExtractConfig, run_videos

    root = tmp_path / "clips"
    for i in range(3):
        cut_clip(VIDEOS / "group_exercise_3p_384x288.avi", root / "exercise" / f"ex{i}.mp4", 30 + 60 * i, 16)
    with MultiPersonPose(num_poses=2) as landmarker:  # the caller's own landmarker runs first
        for i, frame in enumerate(iter_frames(root / "exercise" / "ex0.mp4")):
            landmarker.detect(frame, 40 * i)
    recs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        result = run_videos(VideoExtractConfig(data_root=root, out=out, workers=workers), progress=False)
        assert not result.failures and len(result.done) == 3
        recs[workers] = {r["frame_dir"]: r for r in load_annotations(out / "annotations.pkl")["annotations"]}
    assert sorted(recs[1]) == sorted(recs[2]) == ["exercise/ex0", "exercise/ex1", "exercise/ex2"]
    for name, rec in recs[1].items():
        for key in ("keypoint", "pose_keypoint", "pose_score", "pose_world"):
            np.testing.assert_array_equal(rec[key], recs[2][name][key], err_msg=f"{name} {key}")
