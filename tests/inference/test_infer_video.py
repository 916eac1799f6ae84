"""`tools/infer_video.py` end to end on the shipped real videos, its JSON and overlay, and every bad input.

Until the project's default model exists, the runs use a checkpoint written here with pipeline/checkpoint.py
from a randomly initialised small PG-GCN (kinect_v1_20 layout, NW-UCLA class names) whose config carries the
project's NW-UCLA test pipeline: the predictions are meaningless, the plumbing is real.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.inference.video import label_per_frame, pick_persons, plan_windows

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "assets"
NTU_VIDEO = DATA / "ntu_sample" / "S001C001P001R001A001_rgb.avi"
ARM_VIDEO = DATA / "videos" / "arm_wrestling_340x256.mp4"
CLI = ROOT / "tools" / "infer_video.py"
SMALL = dict(branch_channels=[8, 16], main_channels=[16, 16])


# ------------------------------------------------------------------------------------------- fixtures


def _nwucla_config() -> dict:
    """The project's NW-UCLA config as a plain dict, with a small model (fast to run)."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(ROOT / "configs" / "pggcn_nwucla_xview.py")).to_dict()
    cfg["model"] = dict(cfg["model"], **SMALL)
    return cfg


def _save(path: Path, model, cfg: dict, class_names: list[str]) -> Path:
    from pipeline.checkpoint import save_checkpoint

    save_checkpoint(path, model.state_dict(), meta=dict(class_names=class_names, config=cfg))
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("infer")


@pytest.fixture(scope="module")
def checkpoint(workdir) -> Path:
    import torch

    from models import build_model
    from pipeline.data.classes import class_names

    torch.manual_seed(0)
    cfg = _nwucla_config()
    model = build_model(cfg["model"])
    return _save(workdir / "random_nwucla.pth", model, cfg, class_names("nwucla"))


def _run(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CLI), *map(str, args), "--quiet"], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture(scope="module")
def short_clip(workdir) -> Path:
    """The first 24 frames of the arm-wrestling clip: enough to reach the model, quickly."""
    cap = cv2.VideoCapture(str(ARM_VIDEO))
    frames = [cap.read()[1] for _ in range(24)]
    cap.release()
    return _write_video(workdir / "short.mp4", frames, fps=28.0)


@pytest.fixture(scope="module")
def ntu_run(workdir, checkpoint):
    out_json, out_video = workdir / "ntu.json", workdir / "ntu_overlay.mp4"
    proc = _run(NTU_VIDEO, "--checkpoint", checkpoint, "--json", out_json, "--out", out_video, "--topk", 3)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc, json.loads(out_json.read_text()), out_video


@pytest.fixture(scope="module")
def arm_run(workdir, checkpoint):
    out_json = workdir / "arm.json"
    proc = _run(ARM_VIDEO, "--checkpoint", checkpoint, "--json", out_json, "--window", 64, "--stride", 32)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc, json.loads(out_json.read_text())


# ----------------------------------------------------------------------------------------- unit parts


def test_windows_cover_the_clip_and_end_flush():
    assert plan_windows(0, 64, 32) == []
    assert plan_windows(40, 64, 32) == [(0, 40)]
    assert plan_windows(64, 64, 32) == [(0, 64)]
    assert plan_windows(280, 64, 32) == [(0, 64), (32, 96), (64, 128), (96, 160), (128, 192), (160, 224),
                                         (192, 256), (216, 280)]
    with pytest.raises(ValueError):
        plan_windows(10, 0, 1)


def test_persons_most_present_in_the_window_are_picked():
    present = np.zeros((4, 10), bool)
    present[0, :2] = True
    present[1, :] = True
    present[2, 5:] = True
    present[3, 3:] = True
    assert pick_persons(present, 0, 10, 2).tolist() == [1, 3]  # in track order
    assert pick_persons(present, 0, 2, 2).tolist() == [0, 1]
    assert pick_persons(present, 0, 10, 1).tolist() == [1]
    assert pick_persons(np.zeros((2, 5), bool), 0, 5, 2).tolist() == []


def test_frame_labels_follow_the_nearest_window():
    probs = np.array([[0.9, 0.1], [np.nan, np.nan], [0.2, 0.8]], np.float32)
    labels = label_per_frame(10, [(0, 4), (3, 7), (6, 10)], probs, ["a", "b"])
    assert labels[:4] == ["a 0.90"] * 4 and labels[-3:] == ["b 0.80"] * 3
    assert label_per_frame(3, [(0, 3)], np.full((1, 2), np.nan), ["a", "b"]) == [None] * 3


# ------------------------------------------------------------------------------------------ end to end


def test_one_person_ntu_clip(ntu_run):
    proc, out, overlay = ntu_run
    assert out["video"].endswith(NTU_VIDEO.name)
    assert out["frames"] == 103 and out["fps"] == pytest.approx(30.0, abs=0.1)
    assert [p["frames_present"] >= 100 for p in out["persons"]] == [True]  # one person, (nearly) always found
    preds = out["predictions"]
    assert len(preds) == 3
    assert [p["score"] for p in preds] == sorted((p["score"] for p in preds), reverse=True)
    assert "1 person track(s)" in proc.stdout and preds[0]["label"] in proc.stdout
    assert proc.stderr.count("Traceback") == 0


def test_json_schema(ntu_run, arm_run):
    from pipeline.data.classes import class_names

    names = class_names("nwucla")
    for out in (ntu_run[1], arm_run[1]):
        assert {"video", "frames", "fps", "persons", "predictions", "windows", "timings"} <= set(out)
        for p in out["persons"]:
            assert set(p) == {"id", "frames_present", "predictions", "timeline"}
            assert 0 < p["frames_present"] <= out["frames"]
            for span in p["timeline"]:
                assert set(span) == {"start", "end", "label", "class_id", "score"} and span["end"] <= out["frames"]
        assert len({p["id"] for p in out["persons"]}) == len(out["persons"])
        for pred in out["predictions"]:
            assert set(pred) == {"label", "class_id", "score"}
            assert names[pred["class_id"]] == pred["label"] and 0.0 <= pred["score"] <= 1.0
        assert out["windows"][0]["start"] == 0 and out["windows"][-1]["end"] == out["frames"]
        for w in out["windows"]:
            assert 0 <= w["start"] < w["end"] <= out["frames"]
            assert all(isinstance(i, int) for i in w["persons"]) and len(w["persons"]) <= 2
            if w["predictions"]:
                assert sum(p["score"] for p in w["predictions"]) <= 1.0 + 1e-5
        assert {"startup_s", "pose_s", "pose_fps", "model_s", "total_s"} <= set(out["timings"])
        ids = {p["id"] for p in out["persons"]}
        for seg in out["segments"]:
            assert set(seg) == {"person", "start_s", "end_s", "label", "score"} and seg["person"] in ids
            assert 0 <= seg["start_s"] < seg["end_s"] <= out["frames"] / out["fps"] + 1e-6
            assert seg["label"] in set(names) | {"unknown"}


def test_whole_clip_is_the_mean_of_its_windows(arm_run):
    _, out = arm_run
    labelled = [w for w in out["windows"] if w["predictions"]]
    assert len(out["windows"]) == len(plan_windows(280, 64, 32)) and len(labelled) >= 3
    # the clip's best class, averaged from the windows' top-5 lists, cannot lose to a class absent from them
    best = out["predictions"][0]
    assert any(best["class_id"] == p["class_id"] for w in labelled for p in w["predictions"])


def test_several_partly_visible_people(arm_run):
    proc, out = arm_run
    assert out["frames"] == 280 and out["width"] == 340 and out["height"] == 256
    assert len(out["persons"]) >= 1  # a close-up: what the estimator sees of two half-visible people
    # the NW-UCLA model takes one person: each window feeds the one seen most in it, not always the same
    assert max(len(w["persons"]) for w in out["windows"]) == 1
    assert {i for w in out["windows"] for i in w["persons"]} <= {p["id"] for p in out["persons"]}
    assert sum(p["frames_present"] for p in out["persons"]) > 150
    assert out["predictions"] and proc.returncode == 0


def test_each_person_gets_their_own_predictions(arm_run):
    """A one-person model sees every person on their own, in each window where they are present enough."""
    _, out = arm_run
    ids = {p["id"] for p in out["persons"]}
    with_windows = [p for p in out["persons"] if p["timeline"]]
    assert len(with_windows) >= 2 and all(p["predictions"] for p in with_windows)
    for w in out["windows"]:
        per = {e["person"]: e["predictions"] for e in w["per_person"]}
        assert set(per) <= ids
        if w["persons"]:  # the person the window itself was labelled with got the same prediction
            assert per[w["persons"][0]] == w["predictions"]
    for p in with_windows:  # a person's clip-level best label is among their windows' labels
        assert p["predictions"][0]["label"] in {span["label"] for span in p["timeline"]} or len(p["timeline"]) > 1


def test_a_two_person_model_sees_the_pair_together(workdir):
    import torch

    from models import build_model
    from pipeline.data.classes import class_names

    cfg = _nwucla_config()
    cfg["test_pipeline"] = [dict(t, num_person=2) if t["type"] == "PackInputs" else t for t in cfg["test_pipeline"]]
    torch.manual_seed(1)
    path = _save(workdir / "pairs.pth", build_model(cfg["model"]).eval(), cfg, class_names("nwucla"))
    out_json = workdir / "pairs.json"
    proc = _run(str(ARM_VIDEO), "--checkpoint", str(path), "--json", str(out_json), "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(out_json.read_text())
    assert max(len(w["persons"]) for w in out["windows"]) == 2
    for w in out["windows"]:
        assert [e["person"] for e in w["per_person"]] == sorted(w["persons"], key=[p["id"] for p in
                                                                                    out["persons"]].index)
        assert all(e["predictions"] == w["predictions"] for e in w["per_person"])


def test_overlay_has_the_input_frame_count(ntu_run):
    _, _, overlay = ntu_run
    cap = cv2.VideoCapture(str(overlay))
    assert cap.isOpened()
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (1920, 1080)
    cap.release()
    assert _frame_count(overlay) == 103
    assert not list(overlay.parent.glob(".*.mp4"))  # no temp file left behind


# ------------------------------------------------------------------------------------------ bad input


def _fails(*args) -> str:
    """Run the CLI in a real process; it must exit 2 with exactly one line on stderr. Returns the line."""
    proc = _run(*args)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    return lines[0]


def _write_video(path: Path, frames: list[np.ndarray], fourcc: str = "mp4v", fps: float = 25.0) -> Path:
    h, w = frames[0].shape[:2] if frames else (64, 64)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def test_missing_video(workdir, checkpoint):
    line = _fails(workdir / "no_such_clip.mp4", "--checkpoint", checkpoint)
    assert line == f"error: {workdir / 'no_such_clip.mp4'}: file not found"


@pytest.mark.parametrize("case", ["not_a_video", "truncated_mp4", "truncated_avi", "zero_frames", "empty_file"])
def test_bad_videos(case, workdir, checkpoint):
    path = workdir / f"{case}.{'avi' if 'avi' in case or case == 'zero_frames' else 'mp4'}"
    if case == "not_a_video":
        path.write_text("this is not a video\n" * 100)
    elif case == "empty_file":
        path.write_bytes(b"")
    elif case == "truncated_mp4":  # its index (moov) is at the end: nothing decodes
        data = ARM_VIDEO.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "truncated_avi":  # the header promises 103 frames, only about a quarter decode
        data = NTU_VIDEO.read_bytes()
        path.write_bytes(data[: len(data) // 4])
    elif case == "zero_frames":
        _write_video(path, [], fourcc="MJPG")
    assert str(path) in _fails(path, "--checkpoint", checkpoint)


def test_no_person_in_the_clip(workdir, checkpoint):
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (0, 0), 5)
    frames = [np.roll(base, 2 * t, axis=1) for t in range(30)]
    path = _write_video(workdir / "no_person.mp4", frames)
    line = _fails(path, "--checkpoint", checkpoint)
    assert str(path) in line and "no person" in line


def test_missing_checkpoint_says_how_to_get_one(workdir):
    line = _fails(NTU_VIDEO, "--checkpoint", workdir / "none.pth")
    assert "none.pth" in line and "make train CONFIG=configs/pggcn_nwucla_default.py" in line


def test_not_a_checkpoint(workdir, short_clip):
    path = workdir / "garbage.pth"
    path.write_bytes(b"\x00not a checkpoint" * 64)
    assert str(path) in _fails(short_clip, "--checkpoint", path)


def test_checkpoint_of_another_model(workdir, short_clip):
    """Weights of a bigger model under a config that describes the small one: keys/shapes do not fit."""
    from models import build_model
    from pipeline.data.classes import class_names

    cfg = _nwucla_config()
    big = build_model(dict(cfg["model"], branch_channels=[16, 32], main_channels=[32, 32]))
    path = _save(workdir / "other_model.pth", big, cfg, class_names("nwucla"))
    line = _fails(short_clip, "--checkpoint", path)
    assert str(path) in line and "shape" in line
    path = workdir / "wrong_layout.pth"  # NTU-25 weights under the Kinect-v1 config
    _save(path, build_model(dict(cfg["model"], layout="ntu25")), cfg, class_names("nwucla"))
    line = _fails(short_clip, "--checkpoint", path)
    assert str(path) in line and "does not fit" in line


def test_bad_options(checkpoint):
    assert "--window" in _fails(ARM_VIDEO, "--checkpoint", checkpoint, "--window", 0)
