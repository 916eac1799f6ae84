"""Score fusion: weighted sums matched by sample name, clear errors."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.engine.ensemble import fuse

ROOT = Path(__file__).resolve().parents[2]


def _dump(path, names, labels, scores):
    np.savez(path, names=np.array(names), labels=np.array(labels), scores=np.array(scores, np.float32))


def test_fusion_matches_names_and_weights(tmp_path):
    # stream a is right on sample x, stream b on sample y; b is stored in another order
    _dump(tmp_path / "a.npz", ["x", "y"], [0, 1], [[0.9, 0.1], [0.8, 0.2]])
    _dump(tmp_path / "b.npz", ["y", "x"], [1, 0], [[0.1, 0.9], [0.6, 0.4]])
    assert fuse([tmp_path / "a.npz"])["top1"] == 0.5
    assert fuse([tmp_path / "a.npz", tmp_path / "b.npz"], [1, 1], tmp_path / "out")["top1"] == 1.0
    assert fuse([tmp_path / "a.npz", tmp_path / "b.npz"], [1, 0.1])["top1"] == 0.5
    assert (tmp_path / "out/metrics.json").exists()
    _dump(tmp_path / "c.npz", ["x", "z"], [0, 1], [[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="c.npz: covers other samples"):
        fuse([tmp_path / "a.npz", tmp_path / "c.npz"])
    proc = subprocess.run([sys.executable, "tools/ensemble.py", str(tmp_path / "nope.npz")], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "nope.npz: score dump not found" in proc.stderr


# ------------------------------------------------------------------ separately trained checkpoints joined


def _member(path, seed, **changes):
    """A PG-GCN checkpoint of the default NW-UCLA shape with its own random weights (seeded)."""
    import torch

    from models import build_model
    from pipeline.checkpoint import plain, save_checkpoint
    from pipeline.config import load_config
    from pipeline.data.classes import class_names

    cfg = plain(load_config(ROOT / "configs/pggcn_nwucla_default.py").to_dict())
    cfg["model"].update(changes)
    torch.manual_seed(seed)
    net = build_model(cfg["model"])
    for m in net.modules():  # BatchNorm statistics away from their defaults, so members really differ
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    save_checkpoint(path, net.state_dict(), dict(class_names=class_names("nwucla"), config=cfg, dataset="nwucla",
                                                 layout="kinect_v1_20", epoch=3, metrics=dict(top1=0.5)))
    return path


def test_joined_checkpoints_are_one_model_whose_output_is_the_members_mean_probability(tmp_path):
    import torch

    from pipeline.checkpoint import load_checkpoint
    from pipeline.inference.checkpoint_model import load_model

    a = _member(tmp_path / "a.pth", 0)
    b = _member(tmp_path / "b.pth", 1, streams=["bone", "velocity"])
    proc = subprocess.run([sys.executable, "tools/make_ensemble.py", str(a), str(b), "--out",
                           str(tmp_path / "ab.pth"), "--cfg-options", "video_window=40"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    joined = load_model(tmp_path / "ab.pth")  # the one loader every tool uses
    meta = load_checkpoint(tmp_path / "ab.pth")["meta"]
    assert meta["config"]["model"]["type"] == "Ensemble" and len(meta["ensemble_of"]) == 2
    assert meta["config"]["model"]["members"][1] == {"streams": ["bone", "velocity"]}
    assert [m["path"] for m in meta["ensemble_of"]] == [str(a.resolve()), str(b.resolve())]
    assert meta["config"]["video_window"] == 40 and meta["join_options"] == {"video_window": 40}
    from pipeline.inference.predictor import load_predictor
    assert load_predictor(tmp_path / "ab.pth").window == 40  # what video inference cuts its windows by
    torch.manual_seed(5)
    skel, pose = torch.randn(4, 3, 52, 20, 1), torch.rand(4, 3, 52, 20, 1)
    probs = [load_model(p).model(skel, pose).softmax(-1) for p in (a, b)]
    with torch.no_grad():
        out = joined.model(skel, pose).softmax(-1)
    torch.testing.assert_close(out, (probs[0] + probs[1]).detach() / 2, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(probs[0], probs[1])


def test_joining_refuses_members_that_read_other_data_and_never_overwrites_an_input(tmp_path):
    from pipeline.engine.ensemble import join_checkpoints

    a = _member(tmp_path / "a.pth", 0)
    b = _member(tmp_path / "b.pth", 1)
    before = a.read_bytes()
    with pytest.raises(ValueError, match="a.pth"):
        join_checkpoints([a, b], a)
    assert a.read_bytes() == before
    with pytest.raises(ValueError, match="the same checkpoint as"):
        join_checkpoints([a, tmp_path / "." / "a.pth"], tmp_path / "aa.pth")
    with pytest.raises(ValueError, match="2 to 16 checkpoints"):
        join_checkpoints([a], tmp_path / "a1.pth")
    other = _member(tmp_path / "c.pth", 2, num_classes=10)
    import torch
    ckpt = torch.load(other, weights_only=True)
    ckpt["meta"]["class_names"] = [f"x{i}" for i in range(10)]
    torch.save(ckpt, other)
    with pytest.raises(ValueError, match="c.pth: its class names differ"):
        join_checkpoints([a, other], tmp_path / "ac.pth")
    with pytest.raises(ValueError, match="the members fix the model"):
        join_checkpoints([a, b], tmp_path / "ab.pth", {"test_pipeline.0.type": "X"})
    join_checkpoints([a, b], tmp_path / "ab.pth")
    with pytest.raises(ValueError, match="only PG-GCN checkpoints are joined"):
        join_checkpoints([tmp_path / "ab.pth", a], tmp_path / "aba.pth")
    assert not any((tmp_path / n).exists() for n in ("aa.pth", "a1.pth", "ac.pth", "aba.pth"))
