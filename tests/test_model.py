"""PG-GCN: shapes, person masking, PG-AM against a loop reference, gradients, ablations, tracing, learning."""
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from models import PGAM, Graph, build_model
from models.features import bone_features, skeleton_features
from models.heatmaps import normalize_to_person_box
from models.layouts import get_layout

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(branch_channels=(8, 16), main_channels=(16, 16))


def _inputs(n=2, t=20, v=25, m=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, t, v, m, generator=g), torch.rand(n, 3, t, v, m, generator=g)


@pytest.mark.parametrize("layout, v", [("ntu25", 25), ("kinect_v1_20", 20)])
@pytest.mark.parametrize("m, t", [(1, 16), (2, 33), (2, 100)])
def test_output_shapes(layout, v, m, t):
    model = build_model(dict(num_classes=7, layout=layout, **SMALL)).eval()
    x, p = _inputs(2, t, v, m)
    assert model(x, p).shape == (2, 7)


def test_graph_partitions_are_normalised():
    A = Graph("ntu25").A
    assert A.shape == (3, 25, 25)
    np.testing.assert_array_equal(A[0], np.eye(25))
    for k in (1, 2):
        row = A[k].sum(axis=1)  # each target joint averages what it receives
        assert np.allclose(row[row > 0], 1.0)
    # spine_mid (1) sends to spine_shoulder (20) inward; the reverse is outward
    assert A[1][20, 1] > 0 and A[2][1, 20] > 0 and A[1][1, 20] == 0
    # spine_shoulder (the root) receives inward from spine_mid, neck and both shoulders: a quarter each
    assert A[1][20, 1] == A[1][20, 2] == A[1][20, 4] == A[1][20, 8] == pytest.approx(1 / 4)


def test_graph_convention_matches_st_gcn_on_a_hand_computed_graph():
    """Three joints, a and b both hang from the root.

    ST-GCN (A[source, target], normalize_digraph = A D^-1, x A): the root receives inward from a and b with
    weight 1/2 each; each child receives outward from the root with weight 1. Here rows are targets."""
    from models.layouts import JointLayout

    lay = JointLayout("tiny3", ("root", "a", "b"), parents=(0, 0, 0), center=0, flip_pairs=())
    A = Graph(lay).A
    np.testing.assert_allclose(A[1], [[0, 0.5, 0.5], [0, 0, 0], [0, 0, 0]])  # inward: root averages a and b
    np.testing.assert_allclose(A[2], [[0, 0, 0], [1, 0, 0], [1, 0, 0]])  # outward: a and b each take the root
    st_gcn_inward = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 0]], float)  # [source, target]
    st_gcn_inward = st_gcn_inward @ np.diag(1 / np.maximum(st_gcn_inward.sum(0), 1e-12) * (st_gcn_inward.sum(0) > 0))
    np.testing.assert_allclose(A[1], st_gcn_inward.T)
    x = np.array([[1.0, 10.0, 20.0]])  # one feature per joint
    np.testing.assert_allclose(x @ A[1].T, [[15.0, 0, 0]])  # the root gets the mean of its children


def test_missing_second_person_changes_nothing_for_the_first():
    model = build_model(dict(num_classes=5, **SMALL)).eval()
    x, p = _inputs(1, 24, 25, 1)
    x2 = torch.cat([x, torch.zeros_like(x)], dim=-1)
    p2 = torch.cat([p, torch.zeros_like(p)], dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(model(x, p), model(x2, p2), rtol=1e-5, atol=1e-5)


def test_pgam_matches_a_loop_written_reference():
    torch.manual_seed(0)
    c, t, v = 3, 4, 5
    prior = torch.rand(v, v)
    pgam = PGAM(c, prior).eval()
    with torch.no_grad():
        pgam.M_prime.copy_(torch.randn(v, v))
    f_s, f_p = torch.randn(2, c, t, v), torch.randn(2, c, t, v)
    with torch.no_grad():
        out = pgam(f_s, f_p)
        for n in range(2):
            a_van = torch.zeros(v, v)
            for i in range(v):
                for j in range(v):
                    a_van[i, j] = sum(f_s[n, cc, tt, i] * f_p[n, cc, tt, j] for cc in range(c) for tt in range(t))
            a_van = torch.softmax(a_van / (c * t) ** 0.5, dim=1)
            a_dyn = a_van * (pgam.M + pgam.M_prime)
            agg = torch.zeros(c, t, v)
            for i in range(v):
                for j in range(v):
                    agg[:, :, i] += a_dyn[i, j] * f_p[n, :, :, j]
            ref = f_s[n] + pgam.bn(pgam.proj(agg[None]))[0]
            torch.testing.assert_close(out[n], ref, rtol=1e-4, atol=1e-5)


def test_channels_last_heatmap_encoder_computes_the_plain_convolutions():
    """The encoder keeps its maps channels-last for speed; the features must be those of the plain layers."""
    from models.pose_stream import HeatmapEncoder
    torch.manual_seed(0)
    enc = HeatmapEncoder(16).eval()
    maps = torch.rand(300, 1, 12, 12)
    c1, c2, fc = enc.net[0], enc.net[2], enc.net[6]
    h = torch.relu(torch.nn.functional.conv2d(maps, c1.weight.contiguous(), c1.bias, 2, 1))
    h = torch.relu(torch.nn.functional.conv2d(h, c2.weight.contiguous(), c2.bias, 2, 1))
    expected = fc(h.mean(dim=(2, 3)))
    assert enc.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(enc(maps), expected, rtol=1e-5, atol=1e-6)
    # a state dict saved from a plain (contiguous) encoder loads into it and gives the same features
    plain = {k: v.contiguous() for k, v in enc.state_dict().items()}
    fresh = HeatmapEncoder(16).eval()
    fresh.load_state_dict(plain)
    torch.testing.assert_close(fresh(maps), expected, rtol=1e-5, atol=1e-6)


def test_gradients_reach_M_M_prime_and_the_pose_stream():
    model = build_model(dict(num_classes=4, **SMALL)).train()
    x, p = _inputs(3, 16)
    model(x, p).sum().backward()
    for pg in model.pgam:
        assert pg.M.grad is not None and pg.M.grad.abs().sum() > 0
        assert pg.M_prime.grad is not None and pg.M_prime.grad.abs().sum() > 0
    enc = [q for q in model.pose_stream.parameters()]
    assert all(q.grad is not None for q in enc) and sum(q.grad.abs().sum() for q in enc) > 0


@pytest.mark.parametrize("cfg", [
    dict(pose_input=None),
    dict(fusion="concat"),
    dict(pose_input="coords"),
    dict(streams=("joint",)),
    dict(streams=("bone", "velocity"), attention=True),
])
def test_ablation_switches_build_and_run(cfg):
    model = build_model(dict(num_classes=3, **SMALL, **cfg)).eval()
    x, p = _inputs(2, 12)
    assert model(x, p if cfg.get("pose_input", "heatmap") else None).shape == (2, 3)
    if cfg.get("pose_input", "heatmap") is None:
        assert model.pose_stream is None and model.pgam is None
    if cfg.get("fusion") == "concat":
        assert model.pgam is None and model.pose_stream is not None


def test_bad_configs_and_inputs_are_named():
    with pytest.raises(ValueError, match="streams"):
        build_model(dict(streams=("joint", "depth")))
    with pytest.raises(ValueError, match="fusion"):
        build_model(dict(fusion="late"))
    model = build_model(dict(num_classes=3, **SMALL)).eval()
    x, p = _inputs(1, 8, v=20)
    with pytest.raises(ValueError, match="expects 25 joints"):
        model(x, p)
    with pytest.raises(ValueError, match="pass pose"):
        model(_inputs(1, 8)[0], None)


def test_bone_features_follow_the_layout():
    lay = get_layout("kinect_v1_20")
    x = torch.randn(1, 3, 2, 20, 1)
    b = bone_features(x, torch.tensor(lay.parents))
    torch.testing.assert_close(b[:, :3, :, 5], x[:, :, :, 5] - x[:, :, :, 4])  # elbow - shoulder
    assert (b[:, :, :, lay.center] == 0).all()
    feats = skeleton_features(x, lay, torch.tensor(lay.parents), ("joint", "velocity", "bone"))
    assert [f.shape[1] for f in feats] == [6, 6, 6]


def test_eval_is_deterministic_and_traces():
    model = build_model(dict(num_classes=6, **SMALL)).eval()
    x, p = _inputs(2, 20)
    with torch.no_grad():
        a, b = model(x, p), model(x, p)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        traced = torch.jit.trace(model, (x, p))
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
        buf.seek(0)
        loaded = torch.jit.load(buf)
        torch.testing.assert_close(loaded(x, p), a, rtol=1e-5, atol=1e-5)


def test_default_model_is_small():
    model = build_model(dict(num_classes=120))
    assert sum(q.numel() for q in model.parameters()) <= 2_000_000


def _nwucla_samples(k_per_class=1, classes=(1, 2, 3, 4, 5, 6)):
    """A handful of real NW-UCLA samples straight from the shipped archive."""
    out = {}
    with tarfile.open(ROOT / "assets/nw_ucla/all_sqe.tar.gz") as tar:
        for member in tar:
            if not member.name.endswith(".json"):
                continue
            d = json.load(tar.extractfile(member))
            if d["label"] in classes and len(d["skeletons"]) >= 20 and sum(
                    1 for v in out.values() if v[1] == d["label"] - 1) < k_per_class:
                out[d["file_name"]] = (np.asarray(d["skeletons"], np.float32), d["label"] - 1)
            if len(out) == k_per_class * len(classes):
                break
    return list(out.values())


def test_overfits_a_handful_of_real_samples():
    torch.manual_seed(0)
    samples = _nwucla_samples()
    t = 32
    xs, ps, ys = [], [], []
    for joints, label in samples:
        idx = np.linspace(0, len(joints) - 1, t).round().astype(int)
        j = joints[idx] - joints[idx[0], 1]  # centre on the spine of the first frame
        xs.append(j.transpose(2, 0, 1)[..., None])  # (3, T, V, 1)
        uv = np.stack([320 - 525 * joints[idx, :, 0] / np.maximum(joints[idx, :, 2], 0.1),
                       240 - 525 * joints[idx, :, 1] / np.maximum(joints[idx, :, 2], 0.1)], -1)
        score = (np.abs(joints[idx]).sum(-1) > 0).astype(np.float32)
        uv = normalize_to_person_box(uv[None], score[None])[0]
        ps.append(np.concatenate([uv, score[..., None]], -1).transpose(2, 0, 1)[..., None])
        ys.append(label)
    x, p, y = (torch.from_numpy(np.stack(a)) for a in (xs, ps, ys))
    model = build_model(dict(num_classes=6, layout="kinect_v1_20", dropout=0.0, **SMALL))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(120):
        loss = torch.nn.functional.cross_entropy(model(x, p), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = torch.nn.functional.cross_entropy(model(x, p), y).item()
    assert final < 0.05
