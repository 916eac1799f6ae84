"""A hostile but fair user's corpus of bad inputs against every entry point (tools/*.py and make targets).

The corpus is generated here, in a temp folder, at test time (nothing binary is committed). Every case
asserts what matters to the user: a non-zero exit (2 for bad input; 1 where the documented contract is
"some samples failed"), no traceback, exactly one `error:` line that names the offending file or option,
and every protected file (inputs, and outputs that were good before) byte-identical afterwards. The two
code-execution checkpoints assert that their payload never ran. Most cases call the tools' `main(argv)` in
this process (fast); the Makefile cases and one live SIGTERM go through real subprocesses.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from _tools import cut_clip, run_tool, single_network

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "assets"
SKELETON = DATA / "ntu_sample" / "S001C001P001R001A001.skeleton"
NTU_VIDEO = DATA / "ntu_sample" / "S001C001P001R001A001_rgb.avi"
VIDEO = DATA / "videos" / "arm_wrestling_340x256.mp4"
SHIPPED = ROOT / "checkpoints" / "pggcn_nwucla_default.pth"
CONFIG = ROOT / "configs" / "pggcn_nwucla_default.py"
VENV = Path(sys.executable).parents[1]


# ---------------------------------------------------------------------------------------------- harness


def assert_clean_error(result, *names, code: int = 2) -> str:
    """Exit code, no traceback, one `error:` line naming each of `names`; returns that line."""
    rc, out, err = result
    text = out + err
    assert "Traceback" not in text, text
    assert rc == code, f"exit {rc}, expected {code}: {text}"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, f"expected one error line: {err!r}"
    for name in names:
        assert str(name) in errors[0], f"{name} not named in: {errors[0]}"
    return errors[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


@pytest.fixture
def protect():
    """protect(path, ...) records files; the test fails if any of them changed by its end."""
    recorded: dict[Path, str] = {}

    def add(*paths: Path) -> None:
        for p in paths:
            recorded[Path(p)] = digest(Path(p))

    yield add
    changed = [str(p) for p, h in recorded.items() if digest(p) != h]
    assert not changed, f"protected files changed: {changed}"


# ----------------------------------------------------------------------------------------------- corpus


def _records(n: int = 6, label=None, nan: bool = False) -> dict:
    """A tiny NW-UCLA-style annotation file (Kinect v1, 20 joints): real shapes, random motion."""
    rng = np.random.default_rng(0)
    recs = []
    for i in range(n):
        kp = (rng.normal(0, 0.3, (1, 30, 20, 3)) + [0, 0, 3]).astype(np.float32)
        if nan and i == 1:
            kp[0, 5, 3] = np.nan
        recs.append(dict(frame_dir=f"a{i:02d}_s01_e00_v0{1 + i % 3}", label=i % 10 if label is None else label,
                         total_frames=30, layout="kinect_v1_20", keypoint=kp))
    names = [r["frame_dir"] for r in recs]
    return dict(split=dict(xview_train=[n for n in names if not n.endswith("v03")],
                           xview_val=[n for n in names if n.endswith("v03")]), annotations=recs)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/pggcn-evil-pickle",))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("corpus")
    c: dict[str, Path] = {}

    def pkl(name: str, obj) -> Path:
        c[name] = d / f"{name}.pkl"
        c[name].write_bytes(pickle.dumps(obj))
        return c[name]

    def raw(name: str, data: bytes, suffix: str = ".pkl") -> Path:
        c[name] = d / f"{name}{suffix}"
        c[name].write_bytes(data)
        return c[name]

    good = pkl("good_ann", _records())
    raw("evil_pickle", pickle.dumps(dict(split={}, annotations=[_Evil()])))
    raw("truncated_pickle", good.read_bytes()[: len(good.read_bytes()) // 2])
    raw("empty_pickle", b"")
    raw("text_pickle", b"frame_dir,label\nx,1\n")
    # a pickle that asks for a 10 TB buffer through an allowed constructor
    raw("huge_pickle", b"\x80\x04cbuiltins\nbytearray\nq\x00\x8a\x06\x00\x00\x00\x00\x00\x0a\x85R.")
    pkl("list_ann", [1, 2, 3])
    pkl("no_keypoint_ann", dict(split=dict(xview_val=["a"]), annotations=[dict(frame_dir="a", label=0)]))
    pkl("nan_ann", _records(nan=True))
    pkl("label_out_of_range_ann", _records(label=99))
    pkl("label_negative_ann", _records(label=-3))
    bad_split = _records()
    bad_split["split"]["xview_val"].append("nobody")
    pkl("unknown_split_member_ann", bad_split)
    pkl("wrong_dims_ann", dict(split=dict(xview_val=["a"]), annotations=[
        dict(frame_dir="a", label=0, keypoint=np.zeros((30, 20, 3), np.float32))]))
    c["folder_ann"] = d / "folder.pkl"
    c["folder_ann"].mkdir()

    # configs
    raw("syntax_config", b"model = dict(type='PGGCN'\n", ".py")
    raw("yaml_config", b"model:\n  type: PGGCN\n", ".yaml")
    raw("yaml_named_py_config", b"model:\n  type: PGGCN\n", ".py")
    raw("incomplete_config", b"model = dict(type='PGGCN')\n", ".py")

    # checkpoints
    # one PG-GCN (the shipped default, or its first member when it is an ensemble): the cases edit its keys
    ckpt = single_network(torch.load(SHIPPED, map_location="cpu", weights_only=True))

    def save_ckpt(name: str, edit) -> Path:
        import copy

        obj = copy.deepcopy(ckpt)
        edit(obj)
        c[name] = d / f"{name}.pth"
        torch.save(obj, c[name])
        return c[name]

    marker = d / "PWNED"
    c["marker"] = marker
    save_ckpt("evil_model_ckpt", lambda o: o["meta"]["config"].__setitem__(
        "model", dict(type="subprocess.run", args=["touch", str(marker)])))
    save_ckpt("evil_pipeline_ckpt", lambda o: o["meta"]["config"].__setitem__(
        "test_pipeline", [dict(type="subprocess.run", args=["touch", str(marker)])]))
    save_ckpt("evil_member_ckpt", lambda o: o["meta"]["config"].__setitem__(  # an ensemble naming code as member
        "model", dict(type="Ensemble", member_type="subprocess.run", members=[dict(), dict(args=["touch", str(marker)])])))
    save_ckpt("evil_scoped_ckpt", lambda o: o["meta"]["config"]["model"].__setitem__("type", "mmengine.Config"))
    save_ckpt("unknown_type_ckpt", lambda o: o["meta"]["config"]["model"].__setitem__("type", "NoSuchNet"))
    save_ckpt("bad_kwarg_ckpt", lambda o: o["meta"]["config"]["model"].__setitem__("wings", 2))
    save_ckpt("bad_pipeline_ckpt", lambda o: o["meta"]["config"].__setitem__("test_pipeline", "not a list"))
    save_ckpt("bad_clip_len_ckpt", lambda o: o["meta"]["config"]["test_pipeline"][2].__setitem__("clip_len", "x"))
    save_ckpt("class_count_ckpt", lambda o: o["meta"].__setitem__("class_names", ["a", "b"]))
    save_ckpt("config_string_ckpt", lambda o: o["meta"].__setitem__("config", "model=dict(type='PGGCN')"))
    save_ckpt("other_model_ckpt", lambda o: o["state_dict"].__setitem__(
        "fc.weight", torch.zeros(3, o["state_dict"]["fc.weight"].shape[1])))
    raw("text_ckpt", b"not a checkpoint\n", ".pth")
    raw("empty_ckpt", b"", ".pth")
    raw("truncated_ckpt", SHIPPED.read_bytes()[:5000], ".pth")
    c["pickle_code_ckpt"] = d / "pickle_code_ckpt.pth"
    torch.save({"state_dict": {}, "meta": _Evil()}, c["pickle_code_ckpt"])

    # score dumps
    def npz(name: str, **arrays) -> Path:
        c[name] = d / name / "scores.npz"
        c[name].parent.mkdir()
        np.savez(c[name], **arrays)
        return c[name]

    names = np.array(["s1", "s2", "s3"])
    npz("scores_a", names=names, labels=np.array([0, 1, 2]), scores=np.eye(3, dtype=np.float32))
    npz("scores_b", names=names, labels=np.array([0, 1, 2]), scores=np.eye(3, dtype=np.float32)[::-1])
    npz("scores_1d", names=names, labels=np.array([0, 1, 2]), scores=np.ones(3, np.float32))
    npz("scores_nan", names=names, labels=np.array([0, 1, 2]), scores=np.full((3, 3), np.nan, np.float32))
    npz("scores_other_labels", names=names, labels=np.array([2, 1, 0]), scores=np.eye(3, dtype=np.float32))
    npz("scores_other_samples", names=np.array(["x", "y", "z"]), labels=np.array([0, 1, 2]),
        scores=np.eye(3, dtype=np.float32))
    raw("scores_empty", b"", ".npz")
    raw("scores_text", b"names,labels\n", ".npz")

    # NW-UCLA archives
    raw("archive_random", os.urandom(4096), ".tar.gz")
    raw("archive_empty", b"", ".tar.gz")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        member = tarfile.TarInfo("all_sqe/a01_s01_e00_v01.json")
        body = b"{not json"
        member.size = len(body)
        tar.addfile(member, io.BytesIO(body))
    raw("archive_bad_member", buf.getvalue(), ".tar.gz")
    raw("archive_truncated", gzip.compress(b"x" * 100000)[:500], ".tar.gz")

    # videos
    raw("empty_video", b"", ".mp4")
    raw("text_video", b"this is not a video\n" * 50, ".mp4")
    raw("truncated_video", VIDEO.read_bytes()[:3000], ".mp4")
    c["folder_video"] = d / "folder_video.mp4"
    c["folder_video"].mkdir()
    c["video_copy"] = d / "clip.mp4"
    c["video_copy"].write_bytes(VIDEO.read_bytes())
    c["a_file"] = raw("a_plain_file", b"x", ".txt")
    return c


# ------------------------------------------------------------------------ 1. nothing in a file names code


CODE_CASES = ["evil_model_ckpt", "evil_pipeline_ckpt", "evil_member_ckpt"]


@pytest.mark.parametrize("name", CODE_CASES)
def test_code_execution_checkpoint_refused_by_infer_video(capsys, corpus, protect, name):
    protect(corpus["video_copy"], corpus[name])
    result = run_tool(capsys, "infer_video", corpus["video_copy"], "--checkpoint", corpus[name], "--quiet")
    line = assert_clean_error(result, corpus[name])
    assert "unknown" in line and "subprocess.run" in line
    assert not corpus["marker"].exists(), "the payload ran"


@pytest.mark.parametrize("name", CODE_CASES)
def test_code_execution_checkpoint_refused_by_eval(capsys, corpus, protect, tmp_path, name):
    protect(corpus[name], corpus["good_ann"])
    result = run_tool(capsys, "test", CONFIG, "--checkpoint", corpus[name], "--ann-file", corpus["good_ann"],
                      "--work-dir", tmp_path / "eval")
    assert_clean_error(result, corpus[name], "subprocess.run")
    assert not corpus["marker"].exists(), "the payload ran"
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("name", CODE_CASES + ["evil_scoped_ckpt"])
def test_load_model_never_imports_a_type_from_a_file(corpus, name):
    from pipeline.inference.checkpoint_model import load_model

    with pytest.raises(ValueError, match="unknown"):
        load_model(corpus[name])
    assert not corpus["marker"].exists()


def test_registry_lookup_is_scoped_and_never_imports():
    from models import MODELS, build_model
    from pipeline.data.transforms import TRANSFORMS, build_pipeline

    assert MODELS.scope == "pggcn" and TRANSFORMS.scope == "pggcn"
    for bad in ("os.system", "subprocess.Popen", "mmengine.Config", "builtins.eval", None, 3, ["PGGCN"]):
        with pytest.raises(ValueError, match="unknown"):
            build_model(dict(type=bad))
        with pytest.raises(ValueError, match="unknown"):
            build_pipeline([dict(type=bad)])
    assert build_model(dict(type="PGGCN", num_classes=3, layout="kinect_v1_20", branch_channels=(8, 8),
                            main_channels=(8,))).num_classes == 3


# --------------------------------------------------------------- 2. the Makefile runs no shell from variables


def _make(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args, f"VENV={VENV}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize("var, template", [
    ("DATA_ROOT", "{d}/x; touch {m}"),
    ("DATA_ROOT", "{d}/`touch {m}`"),
    ("OUT", "{d}/$(touch {m})"),
    ("OUT", "{d}/a b`touch {m}`"),
    ("SHARD", "0/1; touch {m}"),
    ("POSE_CONFIG", "'; touch {m}; '"),
])
def test_make_extract_keeps_variables_literal(tmp_path, var, template):
    marker = tmp_path / "ran"
    root = _ntu_root(tmp_path, {SKELETON.name: SKELETON.read_bytes()})
    values = dict(DATASET="ntu60", DATA_ROOT=str(root), OUT=str(tmp_path / "out"), POSE="none", WORKERS="1")
    values[var] = template.format(d=tmp_path, m=marker)
    proc = _make("extract", *(f"{k}={v}" for k, v in values.items()))
    assert not marker.exists(), "a Makefile variable ran as a command"
    assert "Traceback" not in proc.stdout + proc.stderr
    if var in ("DATA_ROOT", "SHARD"):  # the literal text reaches the tool, which refuses it by name
        assert proc.returncode != 0
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and values[var] in errors[0]
    else:  # a legal if odd value: the run works, with the value taken literally
        assert proc.returncode == 0, proc.stderr
        if var == "OUT":
            assert (Path(values["OUT"]) / "annotations.pkl").is_file()


@pytest.mark.parametrize("var, template", [
    ("CONFIG", "/nonexistent.py; true"),
    ("CONFIG", "`touch {m}`.py"),
    ("CHECKPOINT", "$(touch {m})"),
])
def test_make_eval_keeps_variables_literal_and_fails(tmp_path, var, template):
    marker = tmp_path / "ran"
    values = dict(CONFIG=str(CONFIG), CHECKPOINT=str(tmp_path / "none.pth"))
    values[var] = template.format(m=marker)
    proc = _make("eval", *(f"{k}={v}" for k, v in values.items()))
    assert proc.returncode != 0, "an injected `; true` made a failing target pass"
    assert not marker.exists()
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert values[var] in errors[0]


def test_make_extract_takes_a_path_with_spaces(tmp_path):
    root = tmp_path / "my data root"
    (root / "nturgb+d_skeletons").mkdir(parents=True)
    (root / "nturgb+d_skeletons" / SKELETON.name).write_bytes(SKELETON.read_bytes())
    out = tmp_path / "out dir; with `odd` $(chars)"
    proc = _make("extract", "DATASET=ntu60", f"DATA_ROOT={root}", f"OUT={out}", "POSE=none", "WORKERS=1")
    assert proc.returncode == 0, proc.stderr
    assert (out / "annotations.pkl").is_file()


# ---------------------------------------------------------------------------------- 3. no silent data loss


@pytest.mark.parametrize("flag", ["--json", "--out"])
def test_infer_video_never_writes_over_its_input(capsys, corpus, protect, flag):
    protect(corpus["video_copy"])
    assert_clean_error(run_tool(capsys, "infer_video", corpus["video_copy"], flag, corpus["video_copy"]),
                       corpus["video_copy"])


def test_infer_video_never_writes_over_its_checkpoint(capsys, corpus, protect, tmp_path, monkeypatch):
    from pipeline.inference import video as inference

    ckpt = tmp_path / "model.pth"
    ckpt.write_bytes(SHIPPED.read_bytes())
    protect(ckpt)
    assert_clean_error(run_tool(capsys, "infer_video", corpus["video_copy"], "--checkpoint", ckpt, "--json", ckpt),
                       ckpt)
    monkeypatch.setattr(inference, "DEFAULT_CHECKPOINT", ckpt)  # the default model, when none is named
    assert_clean_error(run_tool(capsys, "infer_video", corpus["video_copy"], "--json", ckpt), ckpt)


def test_infer_video_json_and_out_differ(capsys, corpus, tmp_path):
    same = tmp_path / "x.mp4"
    assert_clean_error(run_tool(capsys, "infer_video", corpus["video_copy"], "--json", same, "--out", same), same)


@pytest.mark.parametrize("target", ["folder", "under_a_file"])
def test_infer_video_output_that_cannot_be_a_file(capsys, corpus, tmp_path, target):
    out = tmp_path if target == "folder" else corpus["a_file"] / "x.json"
    assert_clean_error(run_tool(capsys, "infer_video", corpus["video_copy"], "--json", out), out)


def test_ensemble_never_replaces_an_input_dump(capsys, corpus, protect):
    protect(corpus["scores_a"], corpus["scores_b"])
    result = run_tool(capsys, "ensemble", corpus["scores_a"], corpus["scores_b"], "--out", corpus["scores_a"].parent)
    assert_clean_error(result, corpus["scores_a"])


@pytest.mark.parametrize("which", ["annotations", "video"])
def test_render_heatmaps_never_writes_over_its_input(capsys, corpus, protect, which):
    protect(corpus["good_ann"], corpus["video_copy"])
    out = corpus["good_ann"] if which == "annotations" else corpus["video_copy"]
    result = run_tool(capsys, "render_heatmaps", "--annotations", corpus["good_ann"], "--video",
                      corpus["video_copy"], "--out", out)
    assert_clean_error(result, out)


def test_import_nwucla_never_writes_over_the_archive(capsys, corpus, protect):
    protect(corpus["archive_random"])
    assert_clean_error(run_tool(capsys, "import_nwucla", "--archive", corpus["archive_random"], "--out",
                                corpus["archive_random"]), corpus["archive_random"])


def test_eval_reports_never_replace_an_input(capsys, corpus, protect, tmp_path):
    ann = tmp_path / "metrics.json"  # an annotation file that happens to be named like a report
    ann.write_bytes(corpus["good_ann"].read_bytes())
    protect(ann)
    assert_clean_error(run_tool(capsys, "test", CONFIG, "--checkpoint", SHIPPED, "--ann-file", ann, "--work-dir",
                                tmp_path), ann)


def _ntu_root(tmp_path: Path, names: dict[str, bytes] | None = None) -> Path:
    root = tmp_path / "root"
    (root / "nturgb+d_skeletons").mkdir(parents=True, exist_ok=True)
    (root / "nturgb+d_rgb").mkdir(exist_ok=True)
    for name, data in (names or {}).items():
        (root / "nturgb+d_skeletons" / name).write_bytes(data)
    return root


@pytest.fixture
def extracted(tmp_path, capsys) -> Path:
    """An OUT folder holding a good annotations.pkl from the real sample."""
    root = _ntu_root(tmp_path, {SKELETON.name: SKELETON.read_bytes()})
    out = tmp_path / "out"
    assert run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", root, "--out", out, "--pose", "none")[0] == 0
    return out


@pytest.mark.parametrize("content", ["empty", "badly_named"])
def test_extract_without_valid_samples_keeps_the_old_annotations(capsys, tmp_path, extracted, protect, content):
    ann = extracted / "annotations.pkl"
    protect(ann)
    files = {} if content == "empty" else {"drink water.skeleton": SKELETON.read_bytes(),
                                           "S001C001P001R001A001.txt": b"x", "S999C001P001R001A001.skeleton": b"1"}
    root = _ntu_root(tmp_path / "other", files)
    result = run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", root, "--out", extracted, "--pose", "none")
    line = assert_clean_error(result, root / "nturgb+d_skeletons")
    if content == "badly_named":
        assert "3 file(s) ignored" in line and "not an NTU sample name" in line


def test_extract_lists_the_files_it_skips(capsys, tmp_path):
    root = _ntu_root(tmp_path, {SKELETON.name: SKELETON.read_bytes(), "notes.skeleton": b"",
                                "S001C002P005R002A008.skeleton": SKELETON.read_bytes()})
    out = tmp_path / "out"
    rc, stdout, _ = run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", root, "--out", out, "--pose", "none")
    assert rc == 0
    assert "notes.skeleton: not an NTU sample name" in stdout
    assert "S001C002P005R002A008.skeleton: on the dataset authors' list" in stdout
    assert set(json.loads((out / "ignored.json").read_text())) == {"notes.skeleton", "S001C002P005R002A008.skeleton"}


def test_extract_never_replaces_annotations_with_fewer_samples(capsys, tmp_path, protect):
    two = {SKELETON.name: SKELETON.read_bytes(), "S001C002P001R001A001.skeleton": SKELETON.read_bytes()}
    root = _ntu_root(tmp_path, two)
    out = tmp_path / "out"
    args = ["--dataset", "ntu60", "--data-root", root, "--out", out, "--pose", "none", "--keep-parts"]
    assert run_tool(capsys, "extract_dataset", *args)[0] == 0
    protect(out / "annotations.pkl")
    result = run_tool(capsys, "extract_dataset", *args, "--limit", "1")
    assert_clean_error(result, out / "annotations.pkl")


def test_alignment_report_keeps_samples_from_before_a_resume(tmp_path):
    from pipeline.datasets.ntu.source import ExtractConfig, run

    names = [SKELETON.name, "S001C002P001R001A001.skeleton", "S001C003P001R001A001.skeleton"]
    root = _ntu_root(tmp_path, {n: SKELETON.read_bytes() for n in names})
    for n in names:
        (root / "nturgb+d_rgb" / n.replace(".skeleton", "_rgb.avi")).write_bytes(b"video")
    out = tmp_path / "out"

    def fake_pose(video, record):
        return dict(pose_source="fake", quality=dict(pck_0_1h=0.5, mean_px_error=3.0))

    cfg = dict(dataset="ntu60", data_root=root, out=out, pose="fake")
    run(ExtractConfig(**cfg, limit=2), pose_fn=fake_pose, progress=False)  # "killed" after two samples
    (out / "annotations.pkl").unlink()
    (out / "annotations.json").unlink()
    run(ExtractConfig(**cfg), pose_fn=fake_pose, progress=False)  # the resumed run does only the third
    report = json.loads((out / "alignment_report.json").read_text())
    assert len(report["samples"]) == 3 and report["summary"]["samples"] == 3


# ------------------------------------------------------------------------------ 4. no silent wrong results


def _truncated_avi(path: Path, frames: int) -> Path:
    import cv2

    cap = cv2.VideoCapture(str(NTU_VIDEO))
    writer = None
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok
        frame = cv2.resize(frame, (480, 270))
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (480, 270))
        writer.write(frame)
    writer.release()
    cap.release()
    return path


@pytest.mark.parametrize("frames", [1, 27])
def test_an_rgb_video_much_shorter_than_its_skeleton_fails_the_sample(capsys, tmp_path, frames):
    root = _ntu_root(tmp_path, {SKELETON.name: SKELETON.read_bytes()})
    _truncated_avi(root / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi", frames)
    out = tmp_path / "out"
    rc, stdout, err = run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", root, "--out", out)
    assert rc == 1 and "Traceback" not in stdout + err
    reason = json.loads((out / "parts" / "S001C001P001R001A001.failed").read_text())["reason"]
    assert f"only {frames} of the skeleton's 103 frames" in reason and "_rgb.avi" in reason
    assert "FAILED S001C001P001R001A001" in stdout


def test_nan_keypoints_are_refused_with_the_sample_name(capsys, corpus, tmp_path):
    result = run_tool(capsys, "test", CONFIG, "--checkpoint", SHIPPED, "--ann-file", corpus["nan_ann"],
                      "--work-dir", tmp_path / "e")
    assert_clean_error(result, corpus["nan_ann"], "a01_s01_e00_v02", "NaN")


def test_a_label_beyond_the_class_count_is_refused(capsys, corpus, tmp_path):
    result = run_tool(capsys, "test", CONFIG, "--checkpoint", SHIPPED, "--ann-file", corpus["label_out_of_range_ann"],
                      "--work-dir", tmp_path / "e")
    assert_clean_error(result, corpus["label_out_of_range_ann"], "label 99")


@pytest.mark.parametrize("case, words", [
    ("scores_other_labels", "labels differ"), ("scores_nan", "NaN"), ("scores_other_samples", "other samples"),
])
def test_ensemble_refuses_scores_that_do_not_fuse(capsys, corpus, case, words):
    bad = corpus[case]
    first = corpus["scores_a"] if case != "scores_nan" else bad
    assert_clean_error(run_tool(capsys, "ensemble", first, bad), bad, words)


# ------------------------------------------------------------------- 5. one line, exit 2, for every bad file


ANN_CASES = ["evil_pickle", "truncated_pickle", "empty_pickle", "text_pickle", "huge_pickle", "list_ann",
             "no_keypoint_ann", "label_negative_ann", "unknown_split_member_ann", "wrong_dims_ann", "folder_ann"]


@pytest.mark.parametrize("case", ANN_CASES)
def test_train_refuses_bad_annotation_files(capsys, corpus, tmp_path, case):
    result = run_tool(capsys, "train", ROOT / "configs/pggcn_demo.py", "--ann-file", corpus[case],
                      "--work-dir", tmp_path / "w")
    assert_clean_error(result, corpus[case])
    assert not Path("/tmp/pggcn-evil-pickle").exists()


@pytest.mark.parametrize("case", ANN_CASES)
def test_eval_refuses_bad_annotation_files(capsys, corpus, tmp_path, case):
    result = run_tool(capsys, "test", CONFIG, "--checkpoint", SHIPPED, "--ann-file", corpus[case],
                      "--work-dir", tmp_path / "e")
    assert_clean_error(result, corpus[case])


@pytest.mark.parametrize("case", ["evil_pickle", "truncated_pickle", "empty_pickle", "huge_pickle", "list_ann"])
def test_render_heatmaps_refuses_bad_annotation_files(capsys, corpus, tmp_path, case):
    result = run_tool(capsys, "render_heatmaps", "--annotations", corpus[case], "--video", NTU_VIDEO,
                      "--out", tmp_path / "x.png")
    assert_clean_error(result, corpus[case])


@pytest.mark.parametrize("case", ["syntax_config", "yaml_config", "yaml_named_py_config", "incomplete_config",
                                  "folder_ann"])
def test_bad_config_files(capsys, corpus, tmp_path, case):
    assert_clean_error(run_tool(capsys, "train", corpus[case], "--work-dir", tmp_path / "w"), corpus[case])
    assert_clean_error(run_tool(capsys, "test", corpus[case], "--checkpoint", SHIPPED), corpus[case])


def test_missing_config_and_bad_cfg_options(capsys, tmp_path):
    assert_clean_error(run_tool(capsys, "train", tmp_path / "nope.py"), tmp_path / "nope.py")
    assert_clean_error(run_tool(capsys, "train", CONFIG, "--cfg-options", "epochs"), "epochs")


@pytest.mark.parametrize("case", ["unknown_type_ckpt", "bad_kwarg_ckpt", "bad_pipeline_ckpt", "class_count_ckpt",
                                  "config_string_ckpt", "other_model_ckpt", "text_ckpt", "empty_ckpt",
                                  "truncated_ckpt", "pickle_code_ckpt", "evil_scoped_ckpt", "folder_ann"])
def test_eval_refuses_bad_checkpoints(capsys, corpus, tmp_path, case):
    result = run_tool(capsys, "test", CONFIG, "--checkpoint", corpus[case], "--ann-file", corpus["good_ann"],
                      "--work-dir", tmp_path / "e")
    assert_clean_error(result, corpus[case])
    assert not Path("/tmp/pggcn-evil-pickle").exists()


@pytest.mark.parametrize("case", ["unknown_type_ckpt", "bad_clip_len_ckpt", "text_ckpt", "pickle_code_ckpt"])
def test_infer_video_refuses_bad_checkpoints(capsys, corpus, case):
    result = run_tool(capsys, "infer_video", corpus["video_copy"], "--checkpoint", corpus[case], "--quiet")
    assert_clean_error(result, corpus[case])


@pytest.mark.parametrize("case", ["empty_video", "text_video", "truncated_video", "folder_video"])
def test_infer_video_refuses_bad_videos(capsys, corpus, case):
    assert_clean_error(run_tool(capsys, "infer_video", corpus[case], "--quiet"), corpus[case])


@pytest.mark.parametrize("flag, value", [("--topk", "0"), ("--window", "-4"), ("--stride", "0"),
                                         ("--pose-every", "0"), ("--workers", "0"), ("--topk", "many")])
def test_infer_video_refuses_bad_numbers(capsys, corpus, flag, value):
    assert_clean_error(run_tool(capsys, "infer_video", corpus["video_copy"], flag, value), flag)


def test_infer_video_missing_video(capsys, tmp_path):
    assert_clean_error(run_tool(capsys, "infer_video", tmp_path / "none.mp4"), tmp_path / "none.mp4")


@pytest.mark.parametrize("case", ["scores_empty", "scores_text", "scores_1d", "folder_ann"])
def test_ensemble_refuses_bad_dumps(capsys, corpus, case):
    assert_clean_error(run_tool(capsys, "ensemble", corpus["scores_a"], corpus[case]), corpus[case])


def test_ensemble_weights_must_match(capsys, corpus):
    assert_clean_error(run_tool(capsys, "ensemble", corpus["scores_a"], corpus["scores_b"], "--weights", "1"),
                       "1 weights for 2")


def test_ensemble_missing_file(capsys, corpus, tmp_path):
    assert_clean_error(run_tool(capsys, "ensemble", corpus["scores_a"], tmp_path / "x.npz"), tmp_path / "x.npz")


@pytest.mark.parametrize("case", ["archive_random", "archive_empty", "archive_bad_member", "archive_truncated",
                                  "folder_ann"])
def test_import_nwucla_refuses_bad_archives(capsys, corpus, tmp_path, case):
    out = tmp_path / "ann.pkl"
    assert_clean_error(run_tool(capsys, "import_nwucla", "--archive", corpus[case], "--out", out), corpus[case])
    assert not out.exists()


def test_demo_out_that_is_a_file(capsys, corpus):
    assert_clean_error(run_tool(capsys, "demo", "--out", corpus["a_file"]), corpus["a_file"])


def test_render_heatmaps_frame_out_of_range(capsys, extracted, tmp_path):
    pytest.importorskip("mediapipe")
    result = run_tool(capsys, "render_heatmaps", "--annotations", extracted / "annotations.pkl", "--video",
                      NTU_VIDEO, "--out", tmp_path / "x.png")
    assert_clean_error(result, "no pose fields")  # extracted with POSE=none


def test_extract_corrupt_part_at_merge_is_removed_and_reported(capsys, tmp_path):
    from pipeline.datasets.ntu.source import ExtractConfig, run

    names = [SKELETON.name, "S001C002P001R001A001.skeleton"]
    root = _ntu_root(tmp_path, {n: SKELETON.read_bytes() for n in names})
    out = tmp_path / "out"
    run(ExtractConfig(dataset="ntu60", data_root=root, out=out, shard=(0, 2)), progress=False)
    (out / "parts" / "S001C002P001R001A001.pkl").write_bytes(b"garbage from another shard")  # shard 1's part
    result = run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", root, "--out", out, "--pose", "none",
                      "--shard", "0/2")
    assert_clean_error(result, "S001C002P001R001A001.pkl", "run the same command again")
    assert not (out / "annotations.pkl").exists()
    rc, _, _ = run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", root, "--out", out, "--pose", "none")
    assert rc == 0 and (out / "annotations.pkl").exists()


def test_extract_out_that_is_a_file(capsys, corpus, tmp_path):
    root = _ntu_root(tmp_path, {SKELETON.name: SKELETON.read_bytes()})
    assert_clean_error(run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", root, "--out",
                                corpus["a_file"], "--pose", "none"), corpus["a_file"])


# --------------------------------------------------------------------------------------------- 6. smaller


def test_a_folder_named_like_a_skeleton_file(capsys, tmp_path):
    root = _ntu_root(tmp_path, {SKELETON.name: SKELETON.read_bytes()})
    (root / "nturgb+d_skeletons" / "S001C002P001R001A001.skeleton").mkdir()
    rc, stdout, _ = run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", root, "--out", tmp_path / "o",
                             "--pose", "none")
    assert rc == 0 and "S001C002P001R001A001.skeleton: not a file" in stdout


def test_a_huge_frame_count_allocates_nothing_and_names_the_file(tmp_path):
    from pipeline.datasets.ntu.skeleton import read_skeleton

    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("1000000000000\n0\n0\n")
    with pytest.raises(ValueError, match=f"{path}: line 4: unexpected end of file"):
        read_skeleton(path)


@pytest.mark.parametrize("args, env, words", [
    (["--shard", "3/2"], {}, "--shard 3/2"),
    (["--shard", "abc"], {}, "--shard abc"),
    ([], {"WORLD_SIZE": "0"}, "WORLD_SIZE=0"),
    ([], {"RANK": "x", "WORLD_SIZE": "2"}, "RANK=x"),
    (["--limit", "-1"], {}, "--limit"),
    (["--limit", "0"], {}, "--limit"),
    (["--workers", "0"], {}, "--workers"),
    (["--min-frame-ratio", "2"], {}, "--min-frame-ratio"),
    (["--pose", "mmpose"], {}, "POSE_CONFIG"),
])
def test_extract_bad_arguments(capsys, tmp_path, monkeypatch, args, env, words):
    pytest.importorskip("mmpose") if "mmpose" in args else None
    root = _ntu_root(tmp_path, {SKELETON.name: SKELETON.read_bytes()})
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", root, "--out", tmp_path / "o",
                      "--pose", "none", *args)
    assert_clean_error(result, words)


def test_extract_missing_data_root(capsys, tmp_path):
    result = run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", tmp_path / "nope", "--out", tmp_path / "o")
    assert_clean_error(result, tmp_path / "nope")


def test_outputs_get_the_users_umask(tmp_path):
    from extract.fileio import atomic_json_dump

    atomic_json_dump({"a": 1}, tmp_path / "x.json")
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_stale_temp_files_of_a_killed_run_are_removed(capsys, tmp_path):
    from extract.fileio import _HOST

    root = _ntu_root(tmp_path, {SKELETON.name: SKELETON.read_bytes()})
    out = tmp_path / "out"
    (out / "parts").mkdir(parents=True)
    dead = out / f".annotations.pkl.{_HOST}-999999999.abc123.tmp"  # no such process
    dead_part = out / "parts" / f".S001C001P001R001A001.pkl.{_HOST}-999999999.xyz.tmp"
    alive = out / f".annotations.pkl.{_HOST}-{os.getpid()}.live.tmp"  # a writer still at work
    for p in (dead, dead_part, alive):
        p.write_bytes(b"half")
    assert run_tool(capsys, "extract_dataset", "--dataset", "ntu60", "--data-root", root, "--out", out, "--pose", "none")[0] == 0
    assert not dead.exists() and not dead_part.exists() and alive.exists()


def test_sigterm_removes_the_temp_file_and_exits_cleanly(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pipeline.cli import run_cli
        from extract.fileio import atomic_open
        def main(argv):
            with atomic_open({str(tmp_path / 'out.bin')!r}, 'wb') as f:
                f.write(b'x'); f.flush(); print('writing', flush=True); time.sleep(30)
        sys.exit(run_cli(main))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temp file


def test_decord_failure_falls_back_to_opencv(tmp_path, monkeypatch):
    import decord

    from extract import video as vio

    class Broken:
        def __init__(self, *a, **k):
            raise RuntimeError("decord cannot open this")

    monkeypatch.setattr(decord, "VideoReader", Broken)
    frames = list(vio.iter_frames(VIDEO, max_width=160))
    assert len(frames) == 280 and frames[0].shape[1] == 160


def test_unreadable_video_names_both_decoders(corpus):
    from extract.video import VideoError, probe_video

    with pytest.raises(VideoError, match="decord: .*OpenCV: "):
        probe_video(corpus["text_video"])


def test_torch_messages_are_notcut_clip(corpus):
    from pipeline.checkpoint import load_checkpoint

    with pytest.raises(ValueError) as e:
        load_checkpoint(corpus["pickle_code_ckpt"])
    assert len(str(e.value)) > 160 and "weights_only" in str(e.value).lower().replace(" ", "_")


def test_unforeseen_errors_are_one_line_with_exit_1(capsys):
    from pipeline.cli import run_cli

    def main(argv):
        raise RuntimeError("boom\nsecond line")

    assert run_cli(main, []) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PGGCN_DEBUG=1" in err and "Traceback" not in err


# ---------------------------------------------------------------- 6. the second run is never silently wrong
#
# A user's second run: a label corrected, the same WORK_DIR trained again, a run started from best.pth, a
# tool run from another folder. Each case gives the right result or one line, and nothing protected changes.




EXERCISE = DATA / "videos" / "group_exercise_3p_384x288.avi"


@pytest.fixture(scope="module")
def clip_sources(tmp_path_factory) -> list[Path]:
    """Four short real clips (people exercising), cut once for every videos case."""
    d = tmp_path_factory.mktemp("clip_sources")
    return [cut_clip(EXERCISE, d / f"c{i}.mp4", 20 + 60 * i, 24) for i in range(4)]


def _table(root: Path, rows: list[tuple[str, str]], bom: bool = False, crlf: bool = False) -> Path:
    end = "\r\n" if crlf else "\n"
    text = end.join(["path,label", *(f"{p},{lab}" for p, lab in rows)]) + end
    (root / "labels.csv").write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return root / "labels.csv"


def _extract_videos(capsys, root: Path, out: Path, *extra):
    return run_tool(capsys, "extract_dataset", "--dataset", "videos", "--data-root", root, "--out", out, *extra)


def _labels(ann: Path) -> dict[str, str]:
    from pipeline.data.annotations import load_annotations

    data = load_annotations(ann)
    return {r["frame_dir"]: data["label_names"][r["label"]] for r in data["annotations"]}


def test_clips_whose_part_names_used_to_collide_stay_two_clips(capsys, tmp_path, clip_sources):
    root = tmp_path / "clips"
    (root / "a").mkdir(parents=True)
    os.link(clip_sources[0], root / "a" / "b.mp4")
    os.link(clip_sources[1], root / "a__b.mp4")
    _table(root, [("a/b.mp4", "wave"), ("a__b.mp4", "fall")])
    rc, out, err = _extract_videos(capsys, root, tmp_path / "out")
    assert rc == 0, out + err
    assert _labels(tmp_path / "out/annotations.pkl") == {"a/b": "wave", "a__b": "fall"}


@pytest.mark.parametrize("second", ["sub/../x.mp4", "./x.mp4", "y.mp4"])
def test_one_clip_named_twice_is_refused_naming_both_rows(capsys, tmp_path, clip_sources, second):
    root = tmp_path / "clips"
    (root / "sub").mkdir(parents=True)
    os.link(clip_sources[0], root / "x.mp4")
    os.symlink(root / "x.mp4", root / "y.mp4")  # the same file through a link
    table = _table(root, [("x.mp4", "wave"), (second, "fall")])
    line = assert_clean_error(_extract_videos(capsys, root, tmp_path / "out"), table, "line 2", "line 3")
    assert "same clip" in line and not (tmp_path / "out/annotations.pkl").exists()


def test_a_path_outside_the_folder_is_refused(capsys, tmp_path, clip_sources):
    root = tmp_path / "clips"
    root.mkdir()
    table = _table(root, [(f"../{clip_sources[0].name}", "wave")])
    assert_clean_error(_extract_videos(capsys, root, tmp_path / "out"), table, "line 2", "not inside")


@pytest.mark.parametrize("bom, crlf", [(True, False), (False, True), (True, True)])
def test_labels_csv_from_a_spreadsheet_is_read(tmp_path, bom, crlf):
    from pipeline.datasets.videos import discover

    root = tmp_path / "clips"
    root.mkdir()
    for n in ("a.mp4", "b.mp4"):
        (root / n).write_bytes(b"")
    _table(root, [("a.mp4", "wave"), ("b.mp4", "fall")], bom=bom, crlf=crlf)
    assert [(c.name, c.label) for c in discover(root)] == [("a", "wave"), ("b", "fall")]


def test_clips_outside_any_label_folder_are_listed(capsys, tmp_path):
    from pipeline.datasets.videos import discover

    root = tmp_path / "clips"
    (root / "wave").mkdir(parents=True)
    (root / "wave" / "a.mp4").write_bytes(b"")
    (root / "loose.mp4").write_bytes(b"")
    ignored: dict = {}
    assert [c.name for c in discover(root, ignored)] == ["wave/a"]
    assert "loose.mp4" in ignored and "label" in ignored["loose.mp4"]


def test_a_second_extraction_into_the_same_out_is_refused(capsys, tmp_path, clip_sources):
    root = tmp_path / "clips"
    (root / "wave").mkdir(parents=True)
    os.link(clip_sources[0], root / "wave" / "a.mp4")
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pipeline.datasets.lock import hold_lock
        with hold_lock({str(out / '.extract-0-of-1.lock')!r}, 'x'):
            print('held', flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = assert_clean_error(_extract_videos(capsys, root, out), out, f"pid {holder.pid}")
        assert "another extraction is writing" in line
    finally:
        holder.kill()
        holder.wait()
    assert not (out / "parts").exists() or not any((out / "parts").iterdir())


@pytest.fixture(scope="module")
def extracted_clips(tmp_path_factory, clip_sources):
    """A complete videos run over labels.csv (4 clips, 2 labels); its pose parts are gone after the merge."""
    from pipeline.datasets.videos import VideoExtractConfig, run_videos

    root = tmp_path_factory.mktemp("day") / "clips"
    root.mkdir()
    for i, src in enumerate(clip_sources):
        os.link(src, root / f"clip{i}.mp4")
    _table(root, [(f"clip{i}.mp4", "squat" if i % 2 else "stretch") for i in range(4)])
    out = root.parent / "out"
    result = run_videos(VideoExtractConfig(data_root=root, out=out), progress=False)
    assert result.merged and not result.failures and not (out / "parts").exists()
    return root, out


def _copy_run(src_root: Path, src_out: Path, tmp_path: Path) -> tuple[Path, Path]:
    import shutil

    root, out = tmp_path / "clips", tmp_path / "out"
    shutil.copytree(src_root, root)
    shutil.copytree(src_out, out)
    return root, out


def test_a_corrected_label_reaches_annotations_without_a_new_pose_run(capsys, tmp_path, extracted_clips,
                                                                      monkeypatch):
    root, out = _copy_run(*extracted_clips, tmp_path)
    import pipeline.datasets.videos as vd

    monkeypatch.setattr(vd, "clip_record", lambda *a, **k: pytest.fail("the pose ran again"))
    before = (out / "annotations.pkl").read_bytes()
    rc, stdout, err = _extract_videos(capsys, root, out)
    assert rc == 0 and "up to date" in stdout and (out / "annotations.pkl").read_bytes() == before
    _table(root, [(f"clip{i}.mp4", "squat" if i in (1, 3, 0) else "stretch") for i in range(4)])  # clip0 fixed
    rc, stdout, err = _extract_videos(capsys, root, out)
    assert rc == 0, err
    assert "1 label(s) changed" in stdout
    labels = _labels(out / "annotations.pkl")
    assert labels == {"clip0": "squat", "clip1": "squat", "clip2": "stretch", "clip3": "squat"}
    from pipeline.data.store import open_store  # the store follows the file

    store = open_store(out / "annotations.pkl", build=False)
    assert store is not None and [store.label_names[i] for i in store.labels] == [labels[n] for n in store.names]


def test_a_clip_dropped_from_labels_csv_does_not_shrink_the_annotations(capsys, tmp_path, extracted_clips,
                                                                       protect):
    root, out = _copy_run(*extracted_clips, tmp_path)
    protect(out / "annotations.pkl")
    _table(root, [(f"clip{i}.mp4", "squat" if i % 2 else "stretch") for i in range(3)])
    assert_clean_error(_extract_videos(capsys, root, out), out / "annotations.pkl", "only 3")


def test_a_damaged_video_part_is_removed_and_reported(capsys, tmp_path, clip_sources):
    from pipeline.datasets.runner import part_path
    from pipeline.datasets.videos import clip_key

    root = tmp_path / "clips"
    (root / "wave").mkdir(parents=True)
    for i in range(2):
        os.link(clip_sources[i], root / "wave" / f"w{i}.mp4")
    out = tmp_path / "out"
    rc, _, err = _extract_videos(capsys, root, out, "--keep-parts")
    assert rc == 0, err
    part = part_path(out, clip_key("wave/w1"))
    part.write_bytes(part.read_bytes()[:100])
    before = (out / "annotations.pkl").read_bytes()
    # a damaged part is not reused (it is extracted anew), so make it a valid pickle of another sample
    part.write_bytes(pickle.dumps(dict(frame_dir="wave/w0", keypoint=np.zeros((1, 2, 25, 3), np.float32))))
    rc, stdout, err = _extract_videos(capsys, root, out, "--keep-parts")
    assert rc == 0 and "extracted 1" in stdout, stdout + err  # re-extracted, not merged as w0
    assert sorted(_labels(out / "annotations.pkl")) == ["wave/w0", "wave/w1"]
    assert (out / "annotations.pkl").read_bytes() != b"" and before


# --- training on a second run


TINY = ["--cfg-options", "train.epochs=1", "train.repeat=1", "train.warmup_epochs=0", "train.num_workers=0",
        "train.batch_size=2", "train.test_batch_size=2"]


def _train(capsys, ann: Path, work: Path, *extra):
    return run_tool(capsys, "train", CONFIG, "--ann-file", ann, "--work-dir", work, *TINY, *extra)


@pytest.fixture
def trained(capsys, corpus, tmp_path) -> Path:
    work = tmp_path / "w"
    rc, out, err = _train(capsys, corpus["good_ann"], work)
    assert rc == 0, out + err
    return work


def _relabelled_ann(tmp_path: Path) -> Path:
    data = _records()
    for rec in data["annotations"]:
        rec["label"] = (rec["label"] + 1) % 10
    path = tmp_path / "relabelled.pkl"
    path.write_bytes(pickle.dumps(data))
    return path


def test_a_finished_run_is_not_resumed_with_another_annotation_file(capsys, tmp_path, trained, protect):
    protect(trained / "last.pth", trained / "best.pth", trained / "run.json")
    other = _relabelled_ann(tmp_path)
    line = assert_clean_error(_train(capsys, other, trained), trained, "annotation file", "--restart")
    assert "another WORK_DIR" in line


def test_a_relabelled_copy_with_the_same_size_and_mtime_is_another_annotation_file(capsys, corpus, tmp_path,
                                                                                   trained, protect):
    protect(trained / "last.pth")
    import shutil

    copy = tmp_path / "copy.pkl"
    shutil.copy2(corpus["good_ann"], copy)
    rc, out, err = _train(capsys, copy, trained)  # the same content: the same run (finished)
    assert rc == 0 and "already holds the finished run" in out, out + err
    data = pickle.loads(copy.read_bytes())
    data["annotations"][0]["label"] = 9 if data["annotations"][0]["label"] != 9 else 8
    st = copy.stat()
    copy.write_bytes(pickle.dumps(data))
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert_clean_error(_train(capsys, copy, trained), trained, "annotation file")


def test_a_finished_run_run_again_trains_nothing_and_changes_nothing(capsys, corpus, trained, protect):
    protect(trained / "last.pth", trained / "best.pth")
    rc, out, err = _train(capsys, corpus["good_ann"], trained)
    assert rc == 0 and "already holds the finished run" in out and "resuming" not in out, out + err


def test_another_config_is_refused_naming_the_key(capsys, corpus, trained, protect):
    protect(trained / "last.pth")
    line = assert_clean_error(_train(capsys, corpus["good_ann"], trained, "train.lr=0.05"), trained)
    assert "train.lr" in line


def test_load_from_into_an_existing_run_is_refused(capsys, corpus, trained, protect):
    protect(trained / "last.pth", trained / "best.pth")
    assert_clean_error(_train(capsys, corpus["good_ann"], trained, "--load-from", SHIPPED), trained, "LOAD_FROM")


def test_load_from_the_work_dirs_own_best_is_refused(capsys, corpus, trained, protect):
    protect(trained / "best.pth", trained / "last.pth")
    assert_clean_error(_train(capsys, corpus["good_ann"], trained, "--load-from", trained / "best.pth"),
                       trained / "best.pth", "input")


def test_restart_moves_the_old_run_aside(capsys, tmp_path, trained):
    old = (trained / "last.pth").read_bytes()
    rc, out, err = _train(capsys, _relabelled_ann(tmp_path), trained, "--restart")
    assert rc == 0, out + err
    aside = [p for p in trained.parent.iterdir() if p.name.startswith("w.old-")]
    assert len(aside) == 1 and (aside[0] / "last.pth").read_bytes() == old
    assert (trained / "last.pth").read_bytes() != old


def test_a_shipped_model_copied_in_as_last_pth_is_refused(capsys, corpus, tmp_path, protect):
    import shutil

    work = tmp_path / "w"
    work.mkdir()
    shutil.copy(SHIPPED, work / "last.pth")
    protect(work / "last.pth")
    line = assert_clean_error(_train(capsys, corpus["good_ann"], work), work)
    assert "internal error" not in line and len(line) < 400


def test_a_last_pth_of_another_architecture_is_one_short_line(capsys, corpus, trained, protect):
    ckpt = torch.load(trained / "last.pth", weights_only=True)
    ckpt["state_dict"] = {k: v[..., :1] if v.ndim > 1 else v for k, v in ckpt["state_dict"].items()}
    ckpt["progress"]["epoch"] = 0
    torch.save(ckpt, trained / "last.pth")
    protect(trained / "last.pth")
    line = assert_clean_error(_train(capsys, corpus["good_ann"], trained), trained / "last.pth")
    assert len(line) < 400 and "shape" in line


def test_a_relative_ann_file_means_the_current_folder(capsys, corpus, tmp_path, monkeypatch):
    here = tmp_path / "elsewhere"
    (here / "data").mkdir(parents=True)
    small = _records(n=3)
    (here / "data" / "x.pkl").write_bytes(pickle.dumps(small))
    monkeypatch.chdir(here)
    rc, out, err = run_tool(capsys, "test", CONFIG, "--checkpoint", SHIPPED, "--ann-file", "data/x.pkl",
                            "--work-dir", "e")
    assert rc == 0, err
    scores = np.load(here / "e" / "scores.npz")
    assert sorted(scores["names"]) == sorted(small["split"]["xview_val"])


def test_overlapping_splits_are_a_warning_with_the_count(capsys, tmp_path):
    data = _records()
    data["split"]["xview_val"] = list(data["split"]["xview_val"]) + data["split"]["xview_train"][:2]
    ann = tmp_path / "overlap.pkl"
    ann.write_bytes(pickle.dumps(data))
    rc, out, err = _train(capsys, ann, tmp_path / "w")
    assert rc == 0, err
    assert "warning: 2 of the 4 test samples" in err


@pytest.mark.parametrize("case", ["repeated_in_split", "repeated_record"])
def test_a_sample_named_twice_is_refused(capsys, tmp_path, case):
    data = _records()
    if case == "repeated_in_split":
        data["split"]["xview_val"].append(data["split"]["xview_val"][0])
    else:
        twin = dict(data["annotations"][0])
        data["annotations"].append(twin)
    ann = tmp_path / f"{case}.pkl"
    ann.write_bytes(pickle.dumps(data))
    line = assert_clean_error(run_tool(capsys, "test", CONFIG, "--checkpoint", SHIPPED, "--ann-file", ann,
                                       "--work-dir", tmp_path / "e"), ann)
    assert "twice" in line or "repeats" in line


@pytest.mark.parametrize("value, flag", [("1", True), ("", False), ("0", False)])
def test_make_train_restart_is_the_only_way_to_move_a_run_aside(value, flag):
    proc = subprocess.run(["make", "-n", "train", f"RESTART={value}", "WORK_DIR=w", "CONFIG=c.py",
                           f"VENV={VENV}"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if "tools/train.py" in l)
    assert ("--restart" in line) == flag


def test_a_last_pth_copied_in_from_another_run_is_judged_by_its_own_record(capsys, tmp_path, trained, protect):
    import shutil

    other = tmp_path / "other"
    rc, out, err = _train(capsys, _relabelled_ann(tmp_path), other)
    assert rc == 0, out + err
    shutil.copy(other / "last.pth", trained / "last.pth")  # run.json still describes the first run
    protect(trained / "last.pth", trained / "run.json")
    assert_clean_error(_train(capsys, _records_path(tmp_path), trained), trained, "annotation file")


def _records_path(tmp_path: Path) -> Path:
    path = tmp_path / "good_again.pkl"
    path.write_bytes(pickle.dumps(_records()))
    return path
