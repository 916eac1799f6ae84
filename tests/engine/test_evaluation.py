"""`evaluate` on the real NW-UCLA test view with the shipped default model: the reports it writes, and
test-time clips set from the caller without editing the checkpoint's own pipeline."""
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.datasets.nwucla import DEFAULT_ANN, import_nwucla
from pipeline.engine.evaluation import evaluate

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / "checkpoints/pggcn_nwucla_default.pth"


@pytest.fixture(scope="module")
def cfg():
    if not DEFAULT_ANN.exists():
        import_nwucla()
    return load_config(ROOT / "configs/pggcn_nwucla_default.py")


def test_shipped_model_scores_what_its_eval_report_says(cfg, tmp_path):
    metrics = evaluate(cfg, CHECKPOINT, tmp_path / "one")
    shipped = json.loads((ROOT / "checkpoints/pggcn_nwucla_default_eval/metrics.json").read_text())
    assert metrics["top1"] == pytest.approx(shipped["top1"], abs=1e-6)
    assert np.load(tmp_path / "one/scores.npz")["scores"].shape == (464, 10)


def test_num_clips_averages_several_test_clips_and_leaves_the_rest_alone(cfg, tmp_path):
    one = evaluate(cfg, CHECKPOINT, tmp_path / "one")
    three = evaluate(cfg, CHECKPOINT, tmp_path / "three", num_clips=3, title="three clips")
    s1 = np.load(tmp_path / "one/scores.npz")["scores"]
    s3 = np.load(tmp_path / "three/scores.npz")["scores"]
    assert s3.shape == s1.shape and np.allclose(s3.sum(axis=1), 1.0, atol=1e-4)  # still one softmax per sample
    assert not np.allclose(s1, s3)  # other clips were seen
    assert abs(three["top1"] - one["top1"]) < 0.05  # the same model: only the clips differ
