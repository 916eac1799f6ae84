"""Hostile text and metadata, after tests/test_bad_inputs.py: make's own `$( )` expansion of a variable's
value, config `_base_` chains that reach YAML, control characters in names read from files, class names and
pipeline numbers in a checkpoint's or an ONNX file's metadata, live `--json` appending to someone else's file,
and messages that name a temp file instead of the user's.

Every case asserts what matters to the user (a non-zero exit with exactly one `error:` line naming the file at
fault, no payload run, protected files byte-identical), reusing that module's harness. Tools run in this
process through their `main(argv)`, with the slow stages (pose, live capture) replaced by fakes where the
case is about what happens before them; the Makefile cases run real `make` subprocesses.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from _tools import run_tool, single_network
from test_bad_inputs import CONFIG, ROOT, SHIPPED, VENV, VIDEO, _records, assert_clean_error, protect  # noqa: F401

# every control character but the newline that ends a printed line
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# clears the screen, sets the window title, rings, returns to column 0 to forge an error line
EVIL = "walk\x1b[2J\x1b]0;owned\x07\rerror: forged\u2028x\x9b"


def _no_control(text: str) -> None:
    found = CONTROL.findall(text)
    assert not found, f"raw control characters {found!r} in {text!r}"


def _ckpt(tmp_path: Path, name: str, edit) -> Path:
    """A copy of the shipped checkpoint (as one PG-GCN) with `edit(obj)` applied (torch.load(weights_only=True) /
    torch.save)."""
    obj = single_network(torch.load(SHIPPED, map_location="cpu", weights_only=True))
    edit(obj)
    path = tmp_path / f"{name}.pth"
    torch.save(obj, path)
    return path


def _pipeline(obj) -> list:
    return obj["meta"]["config"]["test_pipeline"]


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    from pipeline.inference.onnx_export import export_onnx

    out = tmp_path_factory.mktemp("onnx") / "nwucla.onnx"
    export_onnx(SHIPPED, out, verify=False)
    return out


def _onnx_variant(src: Path, dst: Path, **props) -> Path:
    """`src` with metadata props pggcn.<key> set to json.dumps(value)."""
    import onnx

    model = onnx.load(str(src))
    for key, value in props.items():
        next(p for p in model.metadata_props if p.key == f"pggcn.{key}").value = json.dumps(value)
    onnx.save(model, str(dst))
    return dst


# ------------------------------------------------------------ 1. make never expands a value it was given


def _make(*args, env: dict | None = None, venv: bool = True) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(["make", "-s", *args, *([f"VENV={VENV}"] if venv else [])], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=full_env)


# `$(eval $$(...))`: the `$$` makes eval's argument `$(shell ...)`, which eval would expand in turn
PAYLOADS = {"shell": "$(shell touch {m})", "eval": "$(eval $$(shell touch {m}))"}


def _run_with(target: str, values: dict, where: str) -> subprocess.CompletedProcess:
    if where == "command line":
        return _make(target, *(f"{k}={v}" for k, v in values.items()))
    return _make(target, env=values)


@pytest.mark.parametrize("where", ["command line", "environment"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_make_eval_never_expands_variables(tmp_path, payload, where):
    """make exported command-line variables to the recipe's environment *expanded*: `$(shell ...)` in CONFIG ran
    although the tool got the literal text. Also a variable this Makefile does not know (PGGCN_NOTE)."""
    names = ("CONFIG", "ANN_FILE", "WORK_DIR", "CHECKPOINT", "PGGCN_NOTE")
    markers = {n: tmp_path / f"ran-{n}" for n in names}
    values = {n: f"{tmp_path}/{n.lower()}-$$-" + PAYLOADS[payload].format(m=markers[n]) for n in names}
    values["CONFIG"] += ".py"  # no such file: the tool fails at once, naming it
    proc = _run_with("eval", values, where)
    assert not [n for n, m in markers.items() if m.exists()], "make ran a command from a variable's value"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode != 0 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert values["CONFIG"] in errors[0]  # the tool got the literal text, `$$` included


@pytest.mark.parametrize("where", ["command line", "environment"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_make_extract_never_expands_variables(tmp_path, payload, where):
    markers = {n: tmp_path / f"ran-{n}" for n in ("DATA_ROOT", "OUT")}
    values = {n: f"{tmp_path}/{n.lower()}-$$-" + PAYLOADS[payload].format(m=m) for n, m in markers.items()}
    values.update(DATASET="ntu60", POSE="none", WORKERS="1")
    proc = _run_with("extract", values, where)
    assert not [n for n, m in markers.items() if m.exists()], "make ran a command from a variable's value"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode != 0 and len(errors) == 1 and values["DATA_ROOT"] in errors[0], proc.stderr


@pytest.mark.parametrize("var, where, target", [
    ("VENV", "environment", "help"),  # STAMP := $(VENV)/... expanded it while reading the Makefile
    ("VENV", "command line", "help"),
    ("NPROC", "environment", "help"),  # ifeq ($(NPROC)$(NNODES),11)
    ("NNODES", "command line", "help"),
    ("DATASET", "environment", "extract"),  # OUT ?= data/$(DATASET) expanded it when OUT was used
    ("DATASET", "command line", "extract"),
])
def test_make_expands_no_value_it_reads_indirectly(tmp_path, var, where, target):
    marker = tmp_path / "ran"
    value = PAYLOADS["shell"].format(m=marker)
    args = [target] + (["DATA_ROOT=" + str(tmp_path), "POSE=none"] if target == "extract" else [])
    if where == "command line":
        proc = _make(*args, f"{var}={value}", venv=var != "VENV")
    else:
        proc = _make(*args, env={var: value}, venv=var != "VENV")
    assert not marker.exists(), f"make ran a command from {var}"
    if target == "extract":  # the literal text reached the tool, which refuses it as a dataset name
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode != 0 and len(errors) == 1 and value in errors[0], proc.stderr
    else:
        assert proc.returncode == 0 and "list the targets" in proc.stdout, proc.stderr


def test_make_still_passes_command_line_variables_to_the_tools(tmp_path):
    """The fix keeps command-line variables in the recipes' environment (as literal text): PGGCN_DEBUG=1 given
    to make still reaches the tool, which then shows the traceback."""
    proc = _make("eval", f"CONFIG={tmp_path}/none.py", "PGGCN_DEBUG=1")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "config not found" in proc.stderr


# ------------------------------------------------------------------------ 2. config bases are .py files


def _config_case(d: Path, case: str, marker: Path) -> tuple[Path, Path]:
    """(the config the user runs, the base file at fault)."""
    yaml = f"model:\n  evil: !!python/object/apply:os.system ['touch {marker}']\n"
    if case == "yaml_string":
        (d / "base.yaml").write_text(yaml)
        (d / "top.py").write_text("_base_ = './base.yaml'\n")
        return d / "top.py", d / "base.yaml"
    if case == "yaml_list":
        (d / "base.yaml").write_text(yaml)
        (d / "top.py").write_text(f"_base_ = ['{CONFIG}', 'base.yaml']\n")
        return d / "top.py", d / "base.yaml"
    if case == "json":
        (d / "base.json").write_text(json.dumps(dict(model=dict(type="PGGCN"))))
        (d / "top.py").write_text("_base_ = ['base.json']\n")
        return d / "top.py", d / "base.json"
    if case == "nested":  # top.py -> sub/mid.py -> base.yml
        (d / "sub").mkdir()
        (d / "base.yml").write_text(yaml)
        (d / "sub" / "mid.py").write_text("_base_ = '../base.yml'\nx = 1\n")
        (d / "top.py").write_text("_base_ = ['sub/mid.py']\n")
        return d / "top.py", d / "base.yml"
    if case == "computed":  # mmengine eval()s the _base_ expression: only literals are accepted
        (d / "base.yaml").write_text(yaml)
        (d / "top.py").write_text("_base_ = ['base' + '.yaml']\n")
        return d / "top.py", d / "top.py"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["yaml_string", "yaml_list", "json", "nested", "computed"])
def test_config_bases_must_be_python_files(capsys, tmp_path, protect, case):
    marker = tmp_path / "PWNED"
    top, base = _config_case(tmp_path, case, marker)
    protect(top, base)
    for tool, extra in (("test", ["--checkpoint", SHIPPED]), ("train", ["--work-dir", tmp_path / "w"])):
        line = assert_clean_error(run_tool(capsys, tool, top, *extra), base)
        assert not marker.exists(), "a YAML base ran its payload"
        assert ".py" in line
    if case == "nested":
        assert str(tmp_path / "sub" / "mid.py") in line and str(top) in line
    assert not (tmp_path / "w").exists()


def test_a_py_base_named_by_a_string_still_works(tmp_path):
    from pipeline.config import load_config

    (tmp_path / "child.py").write_text(f"_base_ = '{CONFIG}'\nname = 'child'\n")
    cfg = load_config(tmp_path / "child.py")
    assert cfg.name == "child" and cfg.model.type == "PGGCN"


# ------------------------------------------------------------------- 3. names from files print escaped


def test_printable_and_one_line_escape_control_characters():
    from extract.fileio import one_line, printable

    assert printable("a\x1b[2J\x07\r\n\t\x00\x7f\x9b\u2028\u2029b") == \
        "a\\x1b[2J\\x07\\x0d\\x0a\\x09\\x00\\x7f\\x9b\\u2028\\u2029b"
    assert printable("café 中文 ✓ drop trash") == "café 中文 ✓ drop trash"
    line = one_line(ValueError(f"{EVIL}: bad\nsecond line"))
    _no_control(line)
    assert "\\x1b]0;owned\\x07" in line and "second line" in line


def test_an_error_line_never_carries_a_file_names_control_characters(capsys, tmp_path):
    video = tmp_path / f"{EVIL}.mp4"
    rc, out, err = run_tool(capsys, "infer_video", video, "--quiet")
    line = assert_clean_error((rc, out, err), "file not found")
    _no_control(err)
    assert "walk\\x1b[2J\\x1b]0;owned\\x07" in line and "x\\x9b.mp4" in line  # CR, U+2028: one space


def test_eval_error_escapes_a_sample_name(capsys, tmp_path):
    import pickle

    data = _records(label=99)
    old = data["annotations"][2]["frame_dir"]
    evil = f"a02{EVIL}"
    data["annotations"][2]["frame_dir"] = evil
    data["split"] = {k: [evil if n == old else n for n in v] for k, v in data["split"].items()}
    ann = tmp_path / "ann.pkl"
    ann.write_bytes(pickle.dumps(data))
    rc, out, err = run_tool(capsys, "test", CONFIG, "--checkpoint", SHIPPED, "--ann-file", ann,
                            "--work-dir", tmp_path / "e")
    assert_clean_error((rc, out, err), ann, "label 99")
    _no_control(out + err)


def _fake_result(video: str, names: list[str]):
    from pipeline.inference.timeline import segments
    from pipeline.inference.result import InferenceResult

    k = len(names)
    wp = np.full((2, k), 1.0 / k)
    wp[:, 0] = 0.9
    pwp = np.stack([wp, wp])
    segs = segments(np.tile(wp[:1], (60, 1)), 30.0, names, person=1)
    return InferenceResult(video=video, frames=60, fps=30.0, width=64, height=48, class_names=names,
                           persons=[dict(id=1, frames_present=60), dict(id=2, frames_present=60)],
                           probs=wp.mean(0), windows=[dict(start=0, end=40, persons=[1, 2]),
                                                      dict(start=20, end=60, persons=[1, 2])],
                           window_probs=wp, timings=dict(total_s=1.0), person_window_probs=pwp, segments=segs)


def test_infer_video_prints_class_names_escaped_and_writes_them_exactly(capsys, tmp_path, monkeypatch):
    from pipeline.inference import video as inference

    names = [EVIL] + [f"class {i}" for i in range(1, 10)]
    video = tmp_path / f"clip{EVIL}.mp4"
    video.write_bytes(VIDEO.read_bytes())
    monkeypatch.setattr(inference, "infer_video", lambda v, **kw: _fake_result(str(v), names))
    out_json = tmp_path / "out.json"
    rc, out, err = run_tool(capsys, "infer_video", video, "--json", out_json, "--quiet")
    assert rc == 0, err
    _no_control(out + err)
    assert out.count("walk\\x1b[2J\\x1b]0;owned\\x07\\x0derror: forged\\u2028x\\x9b") >= 3  # top-k, person, table
    assert not any(line.startswith("error:") for line in out.splitlines())
    data = json.loads(out_json.read_text())  # the JSON keeps the exact names
    assert data["predictions"][0]["label"] == EVIL and data["segments"][0]["label"] == EVIL


def test_live_prints_labels_escaped(capsys, tmp_path, monkeypatch):
    from pipeline.inference import live
    from pipeline.inference import onnx_predictor

    class FakeSource:
        kind, width, height, fps = "file", 64, 48, 10.0

        def __init__(self, source, max_width=960):
            self.source = source

    class FakePredictor:
        class_names = [EVIL]

    def fake_run(source, predictor, on_event=None, json_lines=None, **kw):
        run = live.LiveRun(source=source.source, fps=10.0, window_s=3.0, stride_s=1.0)
        ev = live.LiveEvent(1.0, 1, EVIL, 0, 0.9, 0.1, 10)
        run.events.append(ev)
        on_event(ev)
        return run

    monkeypatch.setattr(live, "LiveSource", FakeSource)
    monkeypatch.setattr(live, "run_live", fake_run)
    monkeypatch.setattr(onnx_predictor, "load_onnx_predictor", lambda path: FakePredictor())
    video = tmp_path / f"cam{EVIL}.mp4"
    video.write_bytes(b"x")
    rc, out, err = run_tool(capsys, "infer_video", video, "--live", "--backend", "onnx", "--quiet",
                            "--checkpoint", tmp_path / "model.onnx")
    assert rc == 0, err
    _no_control(out + err)
    assert "person 1: walk\\x1b[2J" in out and f"live: {tmp_path}/camwalk\\x1b[2J\\x1b]0;owned\\x07" in out
    assert not any(line.startswith("error:") for line in out.splitlines())


# ------------------------------------------------------------------------- 4. class names are bounded


def _many_classes(obj, n: int = 10_001) -> None:
    """A checkpoint whose model really has n classes (so only the bound can refuse it)."""
    obj["meta"]["class_names"] = [f"c{i}" for i in range(n)]
    obj["meta"]["config"]["model"]["num_classes"] = n
    sd = obj["state_dict"]
    sd["fc.weight"] = torch.zeros(n, sd["fc.weight"].shape[1])
    sd["fc.bias"] = torch.zeros(n)


CLASS_CASES = {
    "long_name": lambda o: o["meta"]["class_names"].__setitem__(3, "w" * 201),
    "huge_name": lambda o: o["meta"]["class_names"].__setitem__(3, "w" * 5_000_000),
    "many_classes": _many_classes,
}


@pytest.mark.parametrize("case", CLASS_CASES)
def test_checkpoint_class_names_are_bounded(capsys, tmp_path, protect, case):
    import pickle

    ann = tmp_path / "ann.pkl"
    ann.write_bytes(pickle.dumps(_records()))
    ckpt = _ckpt(tmp_path, case, CLASS_CASES[case])
    protect(ckpt, ann)
    result = run_tool(capsys, "test", CONFIG, "--checkpoint", ckpt, "--ann-file", ann, "--work-dir", tmp_path / "e")
    assert_clean_error(result, ckpt, "at most")
    assert not (tmp_path / "e").exists()
    assert len(result[2]) < 1000  # the message does not carry the whole name


@pytest.mark.parametrize("names", [["a" * 201] + ["b"] * 9, [f"c{i}" for i in range(10_001)]], ids=["long", "many"])
def test_onnx_class_names_are_bounded(onnx_file, tmp_path, names):
    from pipeline.inference.onnx_predictor import load_onnx_predictor
    from pipeline.inference.predictor import InferenceError

    path = _onnx_variant(onnx_file, tmp_path / "names.onnx", class_names=names)
    with pytest.raises(InferenceError, match="at most") as e:
        load_onnx_predictor(path)
    assert str(e.value).startswith(f"{path}: ")


def test_export_refuses_a_checkpoint_with_a_long_class_name(capsys, tmp_path, protect):
    ckpt = _ckpt(tmp_path, "long", CLASS_CASES["long_name"])
    protect(ckpt)
    out = tmp_path / "x.onnx"
    assert_clean_error(run_tool(capsys, "export_onnx", ckpt, "--out", out), ckpt, "at most 200")
    assert not out.exists()


# ------------------------------------------------------------------ 5. pipeline numbers in metadata


@pytest.mark.parametrize("step, word", [
    (dict(type="UniformSample", clip_len=10_000_000_000), "clip_len"),
    (dict(type="UniformSample", clip_len=1e10), "clip_len"),
    (dict(type="UniformSample", clip_len=0), "clip_len"),
    (dict(type="UniformSample", clip_len=100, num_clips=1_000_000), "num_clips"),
    (dict(type="UniformSample", clip_len=50_000, num_clips=1_000), "clip_len * num_clips"),
    (dict(type="PackInputs", num_person=1_000_000_000), "num_person"),
    (dict(type="ResampleFps", fps=float("inf")), "fps"),
    (dict(type="RandomScale", scale=50), "scale"),
    (dict(type="JointNoise", drop_prob=2), "drop_prob"),
    (dict(type="PoseInput", noise_px=-1), "noise_px"),
    (dict(type="RandomRotate", max_deg=1e9), "max_deg"),
])
def test_every_transform_number_is_bounded_at_build_time(step, word):
    from pipeline.data.transforms import build_pipeline

    with pytest.raises(ValueError, match=re.escape(word)):
        build_pipeline([step])


PIPELINE_CASES = {
    "clip_len": lambda o: _pipeline(o)[2].__setitem__("clip_len", 10_000_000_000),
    "num_clips": lambda o: _pipeline(o)[2].__setitem__("num_clips", 1_000_000),
    "num_person": lambda o: _pipeline(o)[-1].__setitem__("num_person", 1_000_000_000),
    "no_pack": lambda o: o["meta"]["config"].__setitem__("test_pipeline", _pipeline(o)[:3]),
}


@pytest.mark.parametrize("case", PIPELINE_CASES)
def test_checkpoint_pipeline_numbers_are_bounded_at_load(tmp_path, case):
    from pipeline.inference.checkpoint_model import load_model

    ckpt = _ckpt(tmp_path, case, PIPELINE_CASES[case])
    with pytest.raises(ValueError) as e:
        load_model(ckpt)
    msg = str(e.value)
    assert msg.startswith(f"{ckpt}: ") and "\n" not in msg
    assert (case if case != "no_pack" else "PackInputs") in msg


@pytest.mark.parametrize("value", [0, 10_000_000_000, "52", True, 5.5])
def test_checkpoint_video_window_is_checked_at_load(tmp_path, value):
    from pipeline.inference.predictor import InferenceError, load_predictor

    ckpt = _ckpt(tmp_path, "window", lambda o: o["meta"]["config"].__setitem__("video_window", value))
    with pytest.raises(InferenceError) as e:
        load_predictor(ckpt)
    assert str(e.value).startswith(f"{ckpt}: ") and "video_window" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("value", [0, -3, "52", 1e10])
def test_onnx_video_window_is_checked_at_load(onnx_file, tmp_path, value):
    from pipeline.inference.onnx_predictor import load_onnx_predictor
    from pipeline.inference.predictor import InferenceError

    path = _onnx_variant(onnx_file, tmp_path / "window.onnx", video_window=value)
    with pytest.raises(InferenceError, match="video_window") as e:
        load_onnx_predictor(path)
    assert str(e.value).startswith(f"{path}: ")


def test_infer_video_refuses_a_checkpoint_pipeline_without_skeleton(capsys, tmp_path, protect):
    ckpt = _ckpt(tmp_path, "no_pack", PIPELINE_CASES["no_pack"])
    protect(ckpt)
    result = run_tool(capsys, "infer_video", VIDEO, "--checkpoint", ckpt, "--quiet")
    assert_clean_error(result, ckpt, "PackInputs", "skeleton")  # at load: before the pose stage, not a KeyError


@pytest.mark.parametrize("pipeline, word", [
    ([], "empty"),
    ([dict(type="SelectSkeleton", test_mode=True), dict(type="UniformSample", clip_len=1e10, test_mode=True),
      dict(type="PackInputs", num_person=1, with_pose=False)], "clip_len"),
    ([dict(type="SelectSkeleton", test_mode=True)], "PackInputs"),
], ids=["empty", "clip_len", "no_skeleton"])
def test_onnx_pipeline_is_checked_at_load(onnx_file, tmp_path, pipeline, word):
    from pipeline.inference.onnx_predictor import load_onnx_predictor
    from pipeline.inference.predictor import InferenceError

    path = _onnx_variant(onnx_file, tmp_path / "pipe.onnx", test_pipeline=pipeline)
    with pytest.raises(InferenceError, match=re.escape(word)) as e:
        load_onnx_predictor(path)
    assert str(e.value).startswith(f"{path}: ")


def test_infer_video_refuses_an_onnx_file_with_an_empty_pipeline(capsys, onnx_file, tmp_path):
    path = _onnx_variant(onnx_file, tmp_path / "empty.onnx", test_pipeline=[])
    result = run_tool(capsys, "infer_video", VIDEO, "--backend", "onnx", "--checkpoint", path, "--quiet")
    assert_clean_error(result, path, "empty")


# ---------------------------------------------- 6. live --json appends to its own files only; outputs


@pytest.fixture
def no_work(monkeypatch):
    """Any video or live work started fails the test's run (the refusal must come before it)."""
    from pipeline.inference import video as inference
    from pipeline.inference import live

    def refuse(*a, **k):
        raise RuntimeError("work started")

    monkeypatch.setattr(live, "LiveSource", refuse)
    monkeypatch.setattr(inference, "infer_video", refuse)


@pytest.mark.parametrize("kind", ["checkpoint", "report", "text", "video"])
def test_live_json_never_appends_to_a_file_it_did_not_write(capsys, tmp_path, protect, no_work, kind):
    target = tmp_path / f"target.{kind}"
    if kind == "checkpoint":
        target.write_bytes(SHIPPED.read_bytes())
    elif kind == "report":  # infer_video's own --json report (indented JSON)
        target.write_text(json.dumps(dict(video="x.mp4", predictions=[]), indent=2) + "\n")
    elif kind == "text":
        target.write_text("notes\n")
    else:
        target.write_bytes(VIDEO.read_bytes())
    protect(target)
    video = tmp_path / "clip.mp4"
    video.write_bytes(VIDEO.read_bytes())
    result = run_tool(capsys, "infer_video", video, "--live", "--json", target, "--quiet")
    assert_clean_error(result, target, "live events")


def test_live_json_appends_to_a_new_file_or_one_of_live_events(tmp_path):
    from pipeline.inference.live import LIVE_TOOL, check_live_log

    start = dict(event="start", tool=LIVE_TOOL, source="0", kind="camera", fps=30.0, classes=["a"])
    own = tmp_path / "own.jsonl"
    own.write_text(json.dumps(start) + "\n" + json.dumps(dict(event="end")) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for path in (tmp_path / "new.jsonl", empty, own):
        check_live_log(path)
    for text in ("[1, 2]\n", '{"video": "x"}\n', "\x00\x01binary"):
        (tmp_path / "other.jsonl").write_text(text)
        with pytest.raises(ValueError, match="live events"):
            check_live_log(tmp_path / "other.jsonl")


@pytest.mark.parametrize("case", ["json_and_timeline", "hardlink", "fifo"])
def test_infer_video_outputs_never_replace_each_other_or_a_special_file(capsys, tmp_path, protect, no_work, case):
    video = tmp_path / "clip.mp4"
    video.write_bytes(VIDEO.read_bytes())
    if case == "json_and_timeline":
        same = tmp_path / "result"
        args, named = ["--json", same, "--timeline-png", same], same
    elif case == "hardlink":  # two names of one file
        (tmp_path / "a.json").write_text("{}\n")
        os.link(tmp_path / "a.json", tmp_path / "b.mp4")
        protect(tmp_path / "a.json")
        args, named = ["--json", tmp_path / "a.json", "--out", tmp_path / "b.mp4"], tmp_path / "b.mp4"
    else:
        os.mkfifo(tmp_path / "pipe.json")
        args, named = ["--json", tmp_path / "pipe.json"], tmp_path / "pipe.json"
    assert_clean_error(run_tool(capsys, "infer_video", video, *args, "--quiet"), named)
    if case == "fifo":
        assert not (tmp_path / "pipe.json").is_file()


# ------------------------------------------------------------- 7. messages name the user's file


def _convertible(path: Path, with_pose: bool = True) -> Path:
    import pickle

    rng = np.random.default_rng(0)
    recs = []
    for i in range(2):
        rec = dict(frame_dir=f"S001C001P001R001A00{i + 1}", label=i, layout="ntu25",
                   keypoint=rng.normal(0, 0.3, (1, 10, 25, 3)).astype(np.float32))
        if with_pose or i == 0:
            rec.update(pose_keypoint=rng.uniform(0, 500, (1, 10, 25, 2)).astype(np.float32),
                       pose_score=np.ones((1, 10, 25), np.float32))
        recs.append(rec)
    path.write_bytes(pickle.dumps(dict(split=dict(all=[r["frame_dir"] for r in recs]), annotations=recs)))
    return path


@pytest.mark.parametrize("case", ["folder", "under_a_file", "fifo", "record_without_pose"])
def test_convert_names_the_users_file_not_its_temp_file(capsys, tmp_path, protect, case):
    src = _convertible(tmp_path / "ann.pkl", with_pose=case != "record_without_pose")
    protect(src)
    named = out = tmp_path / "out.pkl"
    if case == "folder":
        out.mkdir()
    elif case == "under_a_file":
        out = src / "x.pkl"
        named = out
    elif case == "fifo":
        os.mkfifo(out)
    else:
        named = src
    line = assert_clean_error(run_tool(capsys, "convert", "--to", "mmaction2-2d", src, out), named)
    assert ".tmp" not in line
    if case == "record_without_pose":
        assert "S001C001P001R001A002" in line
    if case == "fifo":
        assert not out.is_file()


def test_convert_to_store_refuses_an_out_it_would_ignore(capsys, tmp_path):
    src = _convertible(tmp_path / "ann.pkl")
    assert_clean_error(run_tool(capsys, "convert", "--to", "store", src, tmp_path / "x.pkl"), tmp_path / "x.pkl")
    assert not (tmp_path / "ann.store").exists()


UNWRITABLE = Path("/proc")  # a folder nobody can create files in, root included


@pytest.mark.skipif(not (UNWRITABLE / "cpuinfo").is_file(), reason="needs Linux /proc")
def test_convert_to_store_in_a_folder_it_cannot_write(capsys):
    src = UNWRITABLE / "cpuinfo"
    line = assert_clean_error(run_tool(capsys, "convert", "--to", "store", src), src)
    assert ".tmp" not in line


@pytest.mark.skipif(not UNWRITABLE.is_dir(), reason="needs Linux /proc")
def test_timeline_and_export_name_their_output_when_it_cannot_be_written(capsys):
    from pipeline.inference.timeline import draw_timeline

    png = UNWRITABLE / "timeline.png"
    with pytest.raises(ValueError) as e:
        draw_timeline([dict(person=1, start_s=0.0, end_s=1.0, label="walk", score=0.9)], 2.0, png)
    assert str(e.value).startswith(f"{png}: ") and ".tmp" not in str(e.value)
    out = UNWRITABLE / "model.onnx"
    line = assert_clean_error(run_tool(capsys, "export_onnx", SHIPPED, "--out", out), out)
    assert ".tmp" not in line
