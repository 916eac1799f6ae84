"""ONNX export (pipeline/inference/onnx_export.py, tools/export_onnx.py) and the torch-free onnxruntime predictor.

The shipped checkpoints are exported into tmp_path and run on real inputs: windows of the shipped NTU
sample's Kinect skeletons (tests/assets/ntu_sample), through each checkpoint's own test pipeline.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.datasets.ntu.source import build_ntu_record
from pipeline.checkpoint import save_checkpoint
from pipeline.inference.checkpoint_model import load_model
from pipeline.inference.onnx_export import example_inputs, export_onnx
from pipeline.inference.onnx_predictor import load_onnx_predictor
from pipeline.inference.predictor import InferenceError, load_predictor, stack_samples
from pipeline.data.transforms import MapLayout

from _tools import run_tool

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "assets" / "ntu_sample" / "S001C001P001R001A001.skeleton"
NWUCLA = ROOT / "checkpoints" / "pggcn_nwucla_default.pth"
FALL = ROOT / "checkpoints" / "pggcn_gmdcsa_fall.pth"
CLI = ROOT / "tools" / "export_onnx.py"
WINDOWS = [(0, 103), (0, 40), (30, 80), (55, 103), (10, 60)]


def real_records(num_person: int = 1) -> list[dict]:
    """Windows of the NTU sample in the Kinect-v1-20 layout; with 2 persons, a second performer is the same
    recording 25 frames later, 0.8 m to the side (the sample has one person)."""
    full = MapLayout("kinect_v1_20")(build_ntu_record(SAMPLE))
    out = []
    for start, end in WINDOWS:
        r = dict(full, keypoint=full["keypoint"][:, start:end], kinect_color=full["kinect_color"][:, start:end],
                 total_frames=end - start, frame_dir=f"{full['frame_dir']}[{start}:{end}]")
        r.pop("kinect_tracking")
        if num_person == 2:
            other = np.roll(r["keypoint"], 25, axis=1) + np.float32([0.8, 0, 0.2])
            r["keypoint"] = np.concatenate([r["keypoint"], other])
            r["kinect_color"] = np.concatenate([r["kinect_color"], np.roll(r["kinect_color"], 25, axis=1) + 300])
        out.append(r)
    return out


_EXPORTS: dict[Path, tuple] = {}


def _export(ckpt: Path, factory) -> tuple:
    """(checkpoint, onnx path, export info, torch CheckpointModel), exported once per module run."""
    if ckpt not in _EXPORTS:
        out = factory.mktemp("onnx") / f"{ckpt.stem}.onnx"
        _EXPORTS[ckpt] = (ckpt, out, export_onnx(ckpt, out), load_model(ckpt))
    return _EXPORTS[ckpt]


@pytest.fixture(scope="module", params=[NWUCLA, FALL], ids=["nwucla", "fall"])
def exported(request, tmp_path_factory):
    return _export(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def nwucla_onnx(tmp_path_factory) -> Path:
    return _export(NWUCLA, tmp_path_factory)[1]


def _torch_logits(model, skel, pose):
    with torch.inference_mode():
        return model(torch.from_numpy(skel), torch.from_numpy(pose) if pose is not None else None).numpy()


# --------------------------------------------------------------------------------------------- export


def test_export_writes_metadata_and_verifies(exported):
    ckpt, out, info, loaded = exported
    assert out.is_file() and info["max_logit_diff"] < 1e-4 and info["exporter"].startswith("torchscript")
    assert not any(p.name.startswith(f".{out.name}") for p in out.parent.iterdir())  # no temp left
    import onnx

    props = {p.key: json.loads(p.value) for p in onnx.load(str(out)).metadata_props}
    assert props["pggcn.class_names"] == loaded.class_names and props["pggcn.layout"] == "kinect_v1_20"
    assert props["pggcn.test_pipeline"] == loaded.pipeline_cfg
    assert props["pggcn.input_names"] == ["skeleton", "pose"]
    pred = load_onnx_predictor(out)
    reference = load_predictor(ckpt)
    for attr in ("class_names", "layout", "num_person", "clip_len", "resample_fps", "window", "num_classes"):
        assert getattr(pred, attr) == getattr(reference, attr), attr


def test_logits_agree_on_real_inputs_at_every_batch_size(exported):
    _, out, _, loaded = exported
    num_person = load_onnx_predictor(out).num_person
    samples = [loaded.pipeline(r) for r in real_records(num_person)]
    skel, pose, clips = stack_samples(samples)
    assert clips == 1 and skel.shape[0] == len(WINDOWS) and skel.shape[-1] == num_person
    assert not np.allclose(skel[1], skel[2]) and not np.allclose(pose[1], pose[2])  # different content
    session = load_onnx_predictor(out)
    for idx in ([0], [1, 2], [2, 3, 4], list(range(len(WINDOWS)))):  # batch 1, 2, 3, 5: the dynamic axis
        ours = session.logits(skel[idx], pose[idx])
        ref = _torch_logits(loaded.model, skel[idx], pose[idx])
        assert ours.shape == (len(idx), len(loaded.class_names))
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4)
    assert not np.allclose(ref[0], ref[1], atol=1e-3)  # the windows really give different logits


def test_onnx_predictor_matches_torch_predictor(exported):
    ckpt, out, _, _ = exported
    onnx_pred, torch_pred = load_onnx_predictor(out), load_predictor(ckpt)
    records = real_records(onnx_pred.num_person)
    ours = onnx_pred.predict(records, batch_size=2)  # several chunks, the last one short
    ref = torch_pred.predict(records, batch_size=16)
    assert ours.shape == (len(records), onnx_pred.num_classes)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.sum(1), 1.0, atol=1e-5)
    assert onnx_pred.predict([]).shape == (0, onnx_pred.num_classes)


def test_model_without_pose_stream_exports_one_input(tmp_path):
    meta = torch.load(NWUCLA, weights_only=True)["meta"]
    cfg = dict(meta["config"], model=dict(meta["config"]["model"], pose_input=None))
    from models import build_model

    torch.manual_seed(0)
    model = build_model(cfg["model"]).eval()
    ckpt = tmp_path / "nopose.pth"
    save_checkpoint(ckpt, model.state_dict(), meta=dict(meta, config=cfg))
    info = export_onnx(ckpt, tmp_path / "nopose.onnx")
    pred = load_onnx_predictor(tmp_path / "nopose.onnx")
    assert list(info["inputs"]) == ["skeleton"] and pred.input_names == ["skeleton"] and not pred.uses_pose
    records = real_records(1)[:3]
    np.testing.assert_allclose(pred.predict(records), load_predictor(ckpt).predict(records), rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------ without torch


def test_predictor_runs_without_torch_or_onnx(nwucla_onnx):
    out = nwucla_onnx
    code = (
        "import sys, json; sys.modules['torch'] = None; sys.modules['onnx'] = None\n"
        "from pipeline.inference.onnx_predictor import load_onnx_predictor\n"
        "from pipeline.datasets.ntu.source import build_ntu_record\n"
        "from pipeline.data.transforms import MapLayout\n"
        f"rec = MapLayout('kinect_v1_20')(build_ntu_record({str(SAMPLE)!r}))\n"
        f"pred = load_onnx_predictor({str(out)!r})\n"
        "print(json.dumps(pred.predict([rec]).tolist()))\n"
        "assert not any(m == 'torch' or m.startswith('torch.') for m in sys.modules if sys.modules[m] is not None)\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probs = np.array(json.loads(proc.stdout.strip().splitlines()[-1]))
    full = MapLayout("kinect_v1_20")(build_ntu_record(SAMPLE))
    np.testing.assert_allclose(probs, load_predictor(NWUCLA).predict([full]), rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------ bad files


def _one_line_naming(excinfo, path: Path) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_bad_files_are_one_line_inference_errors(nwucla_onnx, tmp_path):
    import onnx

    out = nwucla_onnx

    text = tmp_path / "notes.onnx"
    text.write_text("not a model\nat all\n")
    for path in (text, NWUCLA, tmp_path / "missing.onnx", tmp_path):
        with pytest.raises(InferenceError) as e:
            load_onnx_predictor(path)
        _one_line_naming(e, path)

    def variant(name: str, edit) -> Path:
        model = onnx.load(str(out))
        edit(model)
        path = tmp_path / name
        onnx.save(model, str(path))
        return path

    def drop(key):
        return lambda m: m.metadata_props.remove(next(p for p in m.metadata_props if p.key == key))

    def set_prop(key, value):
        return lambda m: setattr(next(p for p in m.metadata_props if p.key == key), "value", value)

    cases = {
        "plain.onnx": (lambda m: m.ClearField("metadata_props"), "no pggcn.* metadata"),
        "no_names.onnx": (drop("pggcn.class_names"), "lacks pggcn.class_names"),
        "bad_json.onnx": (set_prop("pggcn.layout", "{oops"), "not JSON"),
        "few_names.onnx": (set_prop("pggcn.class_names", '["a", "b"]'), "10 classes"),
        "inputs.onnx": (set_prop("pggcn.input_names", '["skeleton"]'), "inputs"),
        "persons.onnx": (set_prop("pggcn.num_person", "2"), "persons"),
        "code.onnx": (set_prop("pggcn.test_pipeline", '[{"type": "subprocess.run", "args": ["true"]}]'),
                      "unknown transform type"),
    }
    for name, (edit, reason) in cases.items():
        path = variant(name, edit)
        with pytest.raises(InferenceError) as e:
            load_onnx_predictor(path)
        assert reason in _one_line_naming(e, path), name


def test_export_refuses_bad_paths(tmp_path):
    with pytest.raises(ValueError, match="would overwrite the input"):
        export_onnx(NWUCLA, ROOT / "checkpoints" / ".." / "checkpoints" / NWUCLA.name)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        export_onnx(tmp_path / "none.pth", tmp_path / "none.onnx")
    with pytest.raises(ValueError, match="opset"):
        export_onnx(NWUCLA, tmp_path / "x.onnx", opset=99)
    assert not (tmp_path / "x.onnx").exists()


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_exports_and_verifies(tmp_path):
    out = tmp_path / "cli.onnx"
    proc = subprocess.run([sys.executable, str(CLI), str(NWUCLA), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"wrote {out}" in proc.stdout and "max |logit difference|" in proc.stdout
    diff = float(proc.stdout.split("onnxruntime: ")[1].split()[0])
    assert diff < 1e-4
    assert load_onnx_predictor(out).num_classes == 10


def test_cli_default_out_and_refusing_the_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "model.pth"
    ckpt.write_bytes(NWUCLA.read_bytes())
    code, stdout, _ = run_tool(capsys, "export_onnx", ckpt)
    assert code == 0 and (tmp_path / "model.onnx").is_file() and f"wrote {tmp_path / 'model.onnx'}" in stdout
    before = ckpt.read_bytes()
    code, stdout, stderr = run_tool(capsys, "export_onnx", ckpt, "--out", ckpt)
    assert code == 2 and stderr.count("\n") == 1 and "would overwrite the input" in stderr
    assert ckpt.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.pth"]


def test_example_inputs_have_the_pipeline_shape():
    loaded = load_model(NWUCLA)
    skel, pose = example_inputs(loaded.pipeline, loaded.pipeline_cfg, loaded.layout, batch=3)
    frames = next(step["clip_len"] for step in loaded.pipeline_cfg if "clip_len" in step)
    assert skel.shape == pose.shape == (3, 3, frames, 20, 1) and skel.dtype == np.float32
    assert not np.allclose(skel[0], skel[1])


def test_infer_video_with_the_onnx_backend_gives_the_torch_labels(nwucla_onnx, tmp_path):
    """The same clip through `infer_video.py --backend onnx` (a fresh export), `--backend torch` and the
    default (`auto`: the shipped checkpoint's ONNX twin): the same labels and scores (the pose stage is
    deterministic, the models agree within 1e-4), and the JSON names what ran."""
    import json
    import subprocess
    import sys

    clip = ROOT / "tests/assets/videos/ntu_hug_1920x1080.avi"
    out = {}
    for backend, extra in (("torch", []), ("onnx", ["--checkpoint", str(nwucla_onnx)]), ("auto", [])):
        proc = subprocess.run([sys.executable, str(ROOT / "tools/infer_video.py"), str(clip), "--quiet", "--backend",
                               backend, "--json", str(tmp_path / f"{backend}.json"), *extra], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert "note:" not in proc.stderr
        out[backend] = json.loads((tmp_path / f"{backend}.json").read_text())
    assert out["torch"]["model"] == dict(file=str(NWUCLA), runtime="torch")
    assert out["onnx"]["model"] == dict(file=str(nwucla_onnx), runtime="onnxruntime")
    assert out["auto"]["model"] == dict(file=str(NWUCLA.with_suffix(".onnx")), runtime="onnxruntime")
    for other in ("onnx", "auto"):
        for a, b in zip(out["torch"]["predictions"], out[other]["predictions"], strict=True):
            assert a["label"] == b["label"] and abs(a["score"] - b["score"]) < 1e-4
        assert [p["id"] for p in out["torch"]["persons"]] == [p["id"] for p in out[other]["persons"]]
