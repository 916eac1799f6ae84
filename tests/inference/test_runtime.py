"""Which runtime runs a checkpoint (pipeline/inference/runtime.py): the shipped checkpoints' ONNX twins stand in
for them only while they are exports of exactly those files, and a stale, unrecorded or broken twin is passed
over (auto) or refused (--backend onnx), never run in the checkpoint's place."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from extract.fileio import file_sha256
from pipeline.data.transforms import MapLayout
from pipeline.datasets.ntu.source import build_ntu_record
from pipeline.inference.onnx_predictor import META_PREFIX, OnnxPredictor, load_onnx_predictor
from pipeline.inference.predictor import InferenceError, Predictor, load_predictor
from pipeline.inference.runtime import onnx_twin, open_model

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [ROOT / "checkpoints" / "pggcn_nwucla_default.pth", ROOT / "checkpoints" / "pggcn_gmdcsa_fall.pth"]
SAMPLE = ROOT / "tests" / "assets" / "ntu_sample" / "S001C001P001R001A001.skeleton"


def _ntu_windows(num_person: int) -> list[dict]:
    """Three windows of the real NTU sample in the Kinect-v1-20 layout (a second person: the same performer
    20 frames later, 0.8 m aside)."""
    full = MapLayout("kinect_v1_20")(build_ntu_record(SAMPLE))
    full.pop("kinect_tracking")
    out = []
    for start, end in ((0, 103), (0, 48), (40, 103)):
        r = dict(full, keypoint=full["keypoint"][:, start:end], kinect_color=full["kinect_color"][:, start:end],
                 total_frames=end - start)
        if num_person == 2:
            r["keypoint"] = np.concatenate([r["keypoint"], np.roll(r["keypoint"], 20, axis=1) + np.float32([0.8, 0, 0])])
            r["kinect_color"] = np.concatenate([r["kinect_color"], np.roll(r["kinect_color"], 20, axis=1) + 300])
        out.append(r)
    return out


@pytest.mark.parametrize("ckpt", SHIPPED, ids=lambda p: p.stem)
def test_shipped_twin_is_an_export_of_the_shipped_checkpoint(ckpt):
    """Retraining a shipped checkpoint without re-exporting its twin fails here (the run would fall back to
    torch and lose its fast start): `python tools/export_onnx.py checkpoints/X.pth`."""
    twin = load_onnx_predictor(onnx_twin(ckpt))
    assert twin.source_sha256 == file_sha256(ckpt)
    predictor, choice = open_model(ckpt)
    assert isinstance(predictor, OnnxPredictor) and choice.runtime == "onnxruntime" and choice.note is None
    assert choice.path == onnx_twin(ckpt)


@pytest.mark.parametrize("ckpt", SHIPPED, ids=lambda p: p.stem)
def test_shipped_twin_gives_the_checkpoints_probabilities(ckpt):
    torch_pred = load_predictor(ckpt)
    onnx_pred, _ = open_model(ckpt)
    records = _ntu_windows(torch_pred.num_person)
    assert onnx_pred.class_names == torch_pred.class_names and onnx_pred.window == torch_pred.window
    a, b = torch_pred.predict(records), onnx_pred.predict(records)
    assert a.shape == (3, torch_pred.num_classes)
    np.testing.assert_allclose(b, a, atol=1e-5)
    assert not np.allclose(a[0], a[1])  # the windows differ, so the comparison can tell models apart


def test_torch_backend_and_other_devices_run_torch():
    ckpt = SHIPPED[0]
    predictor, choice = open_model(ckpt, "torch")
    assert isinstance(predictor, Predictor) and choice.runtime == "torch" and choice.path == ckpt
    import torch

    if not torch.cuda.is_available():  # auto on a GPU device is torch's: here that means torch's CUDA error
        with pytest.raises(InferenceError, match="CUDA is not available"):
            open_model(ckpt, "auto", device="cuda")


def _checkpoint_with_twin(tmp_path: Path, twin_from: Path | None, twin_bytes: bytes | None = None) -> Path:
    ckpt = tmp_path / "model.pth"
    shutil.copy(SHIPPED[0], ckpt)
    if twin_from is not None:
        shutil.copy(twin_from, onnx_twin(ckpt))
    if twin_bytes is not None:
        onnx_twin(ckpt).write_bytes(twin_bytes)
    return ckpt


def test_a_stale_twin_is_passed_over_by_auto_and_refused_by_onnx(tmp_path):
    # the fall model's twin beside a copy of the NW-UCLA checkpoint: exported from another file
    ckpt = _checkpoint_with_twin(tmp_path, onnx_twin(SHIPPED[1]))
    predictor, choice = open_model(ckpt)
    assert isinstance(predictor, Predictor) and choice.runtime == "torch"
    assert predictor.class_names == load_predictor(SHIPPED[0]).class_names
    assert "another version of model.pth" in choice.note and f"tools/export_onnx.py {ckpt}" in choice.note
    with pytest.raises(InferenceError, match="another version of model.pth") as e:
        open_model(ckpt, "onnx")
    assert str(e.value).startswith(f"{onnx_twin(ckpt)}: ") and "\n" not in str(e.value)


def test_a_twin_that_names_no_checkpoint_is_not_trusted(tmp_path):
    import onnx

    model = onnx.load(str(onnx_twin(SHIPPED[0])))
    keep = [p for p in model.metadata_props if p.key != META_PREFIX + "checkpoint_sha256"]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    ckpt = _checkpoint_with_twin(tmp_path, None, model.SerializeToString())
    assert load_onnx_predictor(onnx_twin(ckpt)).source_sha256 is None  # an older export still loads as itself
    predictor, choice = open_model(ckpt)
    assert isinstance(predictor, Predictor) and "does not record which checkpoint" in choice.note


def test_a_broken_twin_is_a_note_for_auto_and_an_error_for_onnx(tmp_path):
    ckpt = _checkpoint_with_twin(tmp_path, None, b"not an onnx file")
    predictor, choice = open_model(ckpt)
    assert isinstance(predictor, Predictor) and "not a readable ONNX model" in choice.note
    with pytest.raises(InferenceError, match="not a readable ONNX model"):
        open_model(ckpt, "onnx")


def test_an_onnx_file_runs_on_onnxruntime_and_not_on_torch():
    twin = onnx_twin(SHIPPED[0])
    predictor, choice = open_model(twin)
    assert isinstance(predictor, OnnxPredictor) and choice.path == twin
    with pytest.raises(InferenceError, match="runs on onnxruntime"):
        open_model(twin, "torch")
