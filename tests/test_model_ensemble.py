"""The Ensemble model (models/ensemble.py): several PG-GCNs, one model to every tool.

Checked: the output is the log of the members' mean probability; in training each member gets exactly the
gradient it would get alone; a trained ensemble checkpoint loads in the inference tools and exports to one
ONNX graph that matches torch; fine-tuning from it keeps everything but the members' classifiers.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models import build_model
from pipeline.engine.trainer import load_all_but_classifier, member_losses

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(branch_channels=(8, 16), main_channels=(16, 16))
TWO = [dict(streams=("joint", "velocity", "bone")), dict(streams=("bone", "velocity"), pose_input=None)]


def _ensemble(**kw):
    return build_model(dict(type="Ensemble", members=TWO, num_classes=7, layout="kinect_v1_20", **SMALL, **kw))


def _inputs(n=3, t=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, t, 20, 1, generator=g), torch.rand(n, 3, t, 20, 1, generator=g)


def test_shared_arguments_reach_every_member_and_member_arguments_win():
    model = _ensemble()
    a, b = model.members
    assert a.streams == ("joint", "velocity", "bone") and b.streams == ("bone", "velocity")
    assert a.num_classes == b.num_classes == model.num_classes == 7
    assert a.layout.name == b.layout.name == model.layout.name == "kinect_v1_20"
    assert a.pose_input == "heatmap" and b.pose_input is None and model.pose_input == "heatmap"
    assert a.fc.in_features == b.fc.in_features == 16  # SMALL reached both


def test_eval_output_is_the_log_of_the_members_mean_probability():
    torch.manual_seed(0)
    model = _ensemble().eval()
    x, p = _inputs()
    with torch.no_grad():
        out = model(x, p)
        each = [model.members[0](x, p), model.members[1](x, None)]  # the pose-free member is given None
    assert out.shape == (3, 7)
    mean_prob = torch.stack([e.softmax(-1) for e in each]).mean(0)
    torch.testing.assert_close(out.softmax(-1), mean_prob)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(3))  # log-probabilities already


def test_training_gives_each_member_the_gradient_it_would_get_alone():
    torch.manual_seed(0)
    model = _ensemble(dropout=0.0).train()
    x, p = _inputs()
    y = torch.tensor([0, 3, 6])
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    logits = model(x, p)
    assert logits.shape == (3, 2, 7)  # (N, K, C) in training
    loss, shown = member_losses(loss_fn, logits, y)
    loss.backward()
    together = [[q.grad.clone() for q in m.parameters()] for m in model.members]
    alone_losses = []
    for i, m in enumerate(model.members):
        m.zero_grad()
        m.load_state_dict(m.state_dict())
        # BatchNorm saw the batch once already; a fresh forward in train mode uses the same batch statistics
        out = m(x, p if m.pose_input else None)
        single = loss_fn(out, y)
        single.backward()
        alone_losses.append(single.item())
        for g, q in zip(together[i], m.parameters()):
            torch.testing.assert_close(q.grad, g)
    assert shown == pytest.approx(np.mean(alone_losses), rel=1e-5)


@pytest.mark.parametrize("bad, match", [
    (dict(members=[dict(streams=("joint",))]), "2 to 16"),
    (dict(members="joint"), "2 to 16"),
    (dict(members=[dict(type="PGGCN"), dict()]), "no 'type'"),
    (dict(members=[dict(), dict()], member_type="Ensemble"), "cannot be ensembles"),
    (dict(members=[dict(), dict(num_classes=4)]), "members\\[1\\] has 4 classes"),
    (dict(members=[dict(), dict(streams=("elbow",))]), "streams"),
])
def test_bad_ensemble_configs_are_refused_in_one_line(bad, match):
    cfg = dict(type="Ensemble", num_classes=7, layout="kinect_v1_20", **SMALL, **bad)
    with pytest.raises(ValueError, match=match) as e:
        build_model(cfg)
    assert "\n" not in str(e.value)


def _trained_ensemble_checkpoint(tmp_path: Path) -> Path:
    """One epoch of a two-member ensemble on NW-UCLA's test view (small, quick), through the real trainer."""
    from pipeline.config import load_config
    from pipeline.datasets.nwucla import DEFAULT_ANN, import_nwucla
    from pipeline.engine.trainer import train

    if not DEFAULT_ANN.exists():
        import_nwucla()
    cfg = load_config(ROOT / "configs/pggcn_demo.py", {
        "model": dict(type="Ensemble", members=[dict(), dict(streams=("bone", "velocity"))], num_classes=10,
                      layout="kinect_v1_20", **SMALL),
        "train.epochs": 1, "train.repeat": 1, "train_split": "xview_val", "train.val_interval": 1,
        "train.time_budget_min": None})
    train(cfg, tmp_path / "work")
    return tmp_path / "work" / "last.pth"


@pytest.fixture(scope="module")
def ensemble_ckpt(tmp_path_factory):
    return _trained_ensemble_checkpoint(tmp_path_factory.mktemp("ensemble"))


def test_a_trained_ensemble_checkpoint_loads_predicts_and_exports_to_one_graph(ensemble_ckpt, tmp_path):
    from pipeline.inference.checkpoint_model import load_model
    from pipeline.inference.onnx_export import example_inputs, export_onnx
    from pipeline.inference.onnx_predictor import load_onnx_predictor
    from pipeline.inference.predictor import load_predictor

    log = [json.loads(line) for line in (ensemble_ckpt.parent / "log.json").read_text().splitlines()]
    assert np.isfinite(log[-1]["loss"]) and 0.0 <= log[-1]["test_top1"] <= 1.0
    loaded = load_model(ensemble_ckpt)
    assert type(loaded.model).__name__ == "Ensemble" and loaded.layout == "kinect_v1_20"
    assert len(loaded.class_names) == 10
    info = export_onnx(ensemble_ckpt, tmp_path / "e.onnx")
    import onnx

    graph = onnx.load(str(tmp_path / "e.onnx")).graph
    assert len(graph.output) == 1  # one graph, one output: the members are inside
    skel, pose = example_inputs(loaded.pipeline, loaded.pipeline_cfg, loaded.layout, batch=2, seed=3)
    with torch.no_grad():
        want = loaded.model(torch.from_numpy(skel), torch.from_numpy(pose)).softmax(-1).numpy()
    onnx_pred = load_onnx_predictor(tmp_path / "e.onnx")
    np.testing.assert_allclose(onnx_pred.class_probs(skel, pose), want, atol=1e-4)
    np.testing.assert_allclose(load_predictor(ensemble_ckpt).class_probs(skel, pose), want, atol=1e-5)
    assert info["max_logit_diff"] < 1e-4
    assert onnx_pred.class_names == loaded.class_names and onnx_pred.layout == "kinect_v1_20"


def test_fine_tuning_from_an_ensemble_keeps_all_but_the_members_classifiers(ensemble_ckpt):
    from pipeline.checkpoint import load_checkpoint

    state = load_checkpoint(ensemble_ckpt)["state_dict"]
    model_cfg = load_checkpoint(ensemble_ckpt)["meta"]["config"]["model"]
    new = build_model({**model_cfg, "num_classes": 3})
    copied = load_all_but_classifier(new, state, ensemble_ckpt)
    fc = [k for k in new.state_dict() if ".fc." in k]
    assert len(fc) == 4 and copied == len(new.state_dict()) - len(fc)
    assert all(new.members[i].fc.out_features == 3 for i in range(2))
