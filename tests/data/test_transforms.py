"""The data transforms (pipeline/data/transforms.py): what each does to a record, what each documents
(the keys it needs and the keys it adds or changes), its repr as a config writes it, and where its registry
lives."""
from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from models.layouts import get_layout
from models.registry import build_from_cfg
from pipeline.config import load_config
from pipeline.data.annotations import load_annotations
from pipeline.data.transforms import TRANSFORMS, Compose, MapLayout, ResampleFps, build_pipeline
from pipeline.datasets.nwucla import DEFAULT_ANN, import_nwucla

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nwucla_ann():
    if not DEFAULT_ANN.exists():
        import_nwucla()
    return DEFAULT_ANN


def _record(t=40, m=2):
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(m, t, 25, 3)).astype(np.float32)
    kp[1, :10] = 0  # second person enters late
    return dict(frame_dir="S001C001P001R001A050", label=49, layout="ntu25", keypoint=kp, total_frames=t,
                kinect_color=rng.uniform(0, 1000, (m, t, 25, 2)).astype(np.float32),
                pose_keypoint=rng.uniform(0, 1000, (m, t, 25, 2)).astype(np.float32),
                pose_score=rng.uniform(0.5, 1, (m, t, 25)).astype(np.float32), pose_mirrored=True)


# --------------------------------------------------------------------------- what the transforms do


def test_pipeline_shapes_alignment_and_mirroring():
    pipe = build_pipeline([dict(type="SelectSkeleton"), dict(type="CentreSkeleton", align=True),
                           dict(type="UniformSample", clip_len=16, test_mode=True), dict(type="PoseInput"),
                           dict(type="PackInputs", num_person=2)])
    rec = _record()
    out = pipe(dict(rec))
    assert out["skeleton"].shape == (3, 16, 25, 2) and out["pose"].shape == (3, 16, 25, 2)
    assert out["label"] == 49
    # pyskl alignment: spine along +z, shoulders along +x at the first frame; centre joint at the origin
    aligned = build_pipeline([dict(type="SelectSkeleton"), dict(type="CentreSkeleton", align=True)])(dict(rec))
    x = aligned["joints"][0, 0]
    spine, shoulders = x[1] - x[0], x[4] - x[8]
    assert abs(spine[0]) < 1e-4 and abs(spine[1]) < 1e-4 and spine[2] > 0
    assert abs(shoulders[1]) < 1e-4 and shoulders[0] > 0
    np.testing.assert_allclose(x[20], 0, atol=1e-5)
    assert (aligned["joints"][1, :10] == 0).all()  # absent frames stay exact zeros
    # mirrored records have x flipped in the unit box; same frames sampled for 2D and 3D
    unmirrored = pipe(dict(rec, pose_mirrored=False))
    np.testing.assert_allclose(out["pose"][0], 1 - unmirrored["pose"][0], atol=1e-6)
    multi = build_pipeline([dict(type="SelectSkeleton"), dict(type="UniformSample", clip_len=8, num_clips=3,
                                                              test_mode=True), dict(type="PoseInput"),
                            dict(type="PackInputs", num_person=1)])(dict(rec))
    assert multi["skeleton"].shape == (3, 3, 8, 25, 1)


def test_pose_falls_back_to_kinect_colour_when_no_estimator_ran():
    rec = _record()
    del rec["pose_keypoint"], rec["pose_score"]
    out = build_pipeline([dict(type="SelectSkeleton"), dict(type="UniformSample", clip_len=8, test_mode=True),
                          dict(type="PoseInput", noise_px=1.0)])(rec)
    assert out["pose_source_used"] == "kinect_color"
    assert (out["pose_sc"][1, :2] == 0).all() or (out["pose_sc"] >= 0).all()


def test_projected_pose_input_matches_the_real_camera_view_and_follows_rotation(nwucla_ann):
    """PoseInput(source='projection') on a real NW-UCLA sample: without rotation it is (nearly) the Kinect
    colour camera's own view of the joints (orthographic vs pinhole), so its axes are right; rotated, it
    shows the body from elsewhere, which the recorded 2D pose never can."""
    rec = load_annotations(nwucla_ann)["annotations"][0]
    base = [dict(type="SelectSkeleton"), dict(type="UniformSample", clip_len=52, test_mode=True)]
    camera = build_pipeline(base + [dict(type="PoseInput")])(dict(rec))
    projected = build_pipeline(base + [dict(type="PoseInput", source="projection")])(dict(rec))
    assert projected["pose_source_used"] == "projection"
    err = np.abs(projected["pose_xy"] - camera["pose_xy"])[camera["pose_sc"] > 0]
    assert err.mean() < 0.04  # mirrored (a sign error) it is 0.09-0.18 on real samples
    turned = build_pipeline(base + [dict(type="RandomRotate", max_deg=60, axes="xy"),
                                    dict(type="PoseInput", source="projection")])(dict(rec, rng=np.random.default_rng(3)))
    assert np.abs(turned["pose_xy"] - projected["pose_xy"]).mean() > 0.02


def test_estimated_skeletons_without_pose_world_are_refused_in_one_line():
    pipe = build_pipeline([dict(type="SelectSkeleton", source="estimated")])
    rec = dict(frame_dir="S001C001P001R001A001", keypoint=np.zeros((1, 5, 25, 3), np.float32))
    with pytest.raises(ValueError, match="S001C001P001R001A001: skeleton_source=estimated needs .*pose_world"):
        pipe(rec)


def test_15_and_30_fps_clips_are_sampled_alike():
    t30 = np.arange(60, dtype=np.float32)  # 2 s at 30 fps: value = time in 1/30 s
    rec30 = dict(keypoint=np.broadcast_to(t30[None, :, None, None], (1, 60, 25, 3)).copy(), fps=30.0)
    t15 = np.arange(30, dtype=np.float32) * 2  # the same 2 s at 15 fps
    rec15 = dict(keypoint=np.broadcast_to(t15[None, :, None, None], (1, 30, 25, 3)).copy(), fps=15.0)
    a, b = ResampleFps(15)(rec30), ResampleFps(15)(rec15)
    np.testing.assert_array_equal(a["keypoint"], b["keypoint"])
    assert a["total_frames"] == 30


@pytest.mark.parametrize("src", [29.97, 29.66, 30.0, 25.0, 24.0, 60.0, 15.0, 10.0])
def test_resampling_takes_the_frame_nearest_each_sample_time(src):
    """Phone and camera clips run at 29.97 fps (GMDCSA24's at 29.6-29.7): rounding down took the odd frames,
    half a frame early on average, and video inference tracks poses on the even ones (the odd ones are
    interpolated between them)."""
    t = int(src * 4)
    rec = dict(keypoint=np.broadcast_to(np.arange(t, dtype=np.float32)[None, :, None, None], (1, t, 25, 3)).copy(),
               fps=src)
    out = ResampleFps(15)(rec)
    idx = out["keypoint"][0, :, 0, 0].astype(int)
    want = np.arange(len(idx)) / 15.0
    assert np.abs(idx / src - want).max() <= 0.5 / src + 1e-9  # never further than half a frame from its time
    if src in (29.97, 30.0):  # 4 s: the frames whose poses were tracked, not the ones interpolated between them
        assert (idx % 2 == 0).all()


def test_map_layout_takes_ntu25_into_kinect_v1_20():
    kp = np.arange(25, dtype=np.float32)[None, None, :, None].repeat(3, -1)
    out = MapLayout("kinect_v1_20")(dict(keypoint=kp, layout="ntu25"))
    assert out["keypoint"].shape == (1, 1, 20, 3) and out["layout"] == "kinect_v1_20"
    assert out["keypoint"][0, 0, 2, 0] == 20  # shoulder_center <- NTU spine_shoulder (joint 21, 0-based 20)


# --------------------------------------------------------------------------- where the registry lives


def test_the_transforms_registry_lives_in_models_registry():
    import models.registry as registry
    import pipeline.data.transforms as transforms

    assert transforms.TRANSFORMS is registry.TRANSFORMS  # re-exported, not a second registry
    assert (registry.TRANSFORMS.name, registry.TRANSFORMS.scope) == ("transform", "pggcn")
    assert "Registry(" not in Path(transforms.__file__).read_text()
    # the one builder looks names up in the registry's own table only: nothing dotted is imported
    for bad in ("os.system", "pipeline.data.transforms.UniformSample", "mmaction.PoseDecode"):
        with pytest.raises(ValueError, match="unknown transform type"):
            build_from_cfg(dict(type=bad), registry.TRANSFORMS)


# --------------------------------------------------------------------------- docstrings and reprs

# One config per registered transform, with arguments off their defaults where it has any.
EXAMPLES = {
    "SelectSkeleton": dict(source="mixed", test_mode=True),
    "MapLayout": dict(target="kinect_v1_20"),
    "ResampleFps": dict(fps=30),
    "From2DKeypoints": dict(),
    "CentreSkeleton": dict(align=True, per_frame=True),
    "UniformSample": dict(clip_len=52, test_mode=True),
    "RandomRotate": dict(max_deg=60, axes="xy"),
    "RandomScale": dict(scale=0.2),
    "JointNoise": dict(std=0.015, drop_prob=0.02),
    "MinMaxScale": dict(),
    "RandomDropAxis": dict(p=0.3),
    "RandomLimbDamping": dict(p=0.3, factor=(0.5, 0.9)),
    "RandomDropJoints": dict(p=0.3, num_joints=(2, 5), frame_frac=(0.1, 0.2)),
    "PoseInput": dict(fallback=["projection"], noise_px=2, min_score=0.1, source="projection", noise_m=0.01),
    "PackInputs": dict(num_person=1, with_pose=False),
}
REQUIRED = {"MapLayout": dict(target="ntu25")}  # arguments without a default
CLASSES = {name: TRANSFORMS.module_dict[name] for name in sorted(TRANSFORMS.module_dict)}


def test_every_registered_transform_has_an_example_here():
    assert set(EXAMPLES) == set(CLASSES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_repr_is_the_config_and_evaluates_back(name):
    cls = CLASSES[name]
    params = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for cfg in (REQUIRED.get(name, {}), EXAMPLES[name]):
        t = build_from_cfg(dict(type=name, **cfg), TRANSFORMS)
        text = repr(t)
        assert text.startswith(f"{name}(") and text.endswith(")")
        assert re.findall(r"(\w+)=", text) == [p.name for p in params]  # every argument, in order
        again = eval(text, {cls.__name__: cls})
        assert type(again) is cls and repr(again) == text and vars(again) == vars(t)


def test_repr_writes_the_arguments_as_a_config_does():
    assert repr(build_from_cfg(dict(type="UniformSample", clip_len=52, test_mode=True), TRANSFORMS)) == \
        "UniformSample(clip_len=52, num_clips=1, test_mode=True)"
    assert repr(build_from_cfg(dict(type="RandomRotate", max_deg=60, axes="xy"), TRANSFORMS)) == \
        "RandomRotate(max_deg=60.0, axes='xy')"
    assert repr(build_from_cfg(dict(type="MinMaxScale"), TRANSFORMS)) == "MinMaxScale()"


def test_a_config_pipeline_repr_names_each_step_one_a_line():
    cfg = load_config(ROOT / "configs/pggcn_nwucla_default.py")
    pipe = build_pipeline(cfg.test_pipeline)
    text = repr(pipe)
    lines = text.splitlines()
    assert lines[0] == "Compose([" and lines[-1] == "])"
    assert [line.strip().split("(")[0] for line in lines[1:-1]] == [step["type"] for step in cfg.test_pipeline]
    assert "    UniformSample(clip_len=52, num_clips=1, test_mode=True)," in lines
    again = eval(text, {**CLASSES, "Compose": Compose})
    assert repr(again) == text
    a, b = pipe(dict(_record())), again(dict(_record()))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert repr(Compose([])) == "Compose([])"


def _documented_keys(doc: str) -> tuple[set[str], set[str]]:
    """The keys named in the docstring's two lists: (required, added or changed)."""
    assert doc.count("Required keys:") == 1 and doc.count("Added or changed keys:") == 1, doc
    head, rest = doc.split("Required keys:")
    required, added = rest.split("Added or changed keys:")
    assert "- " in required and "- " in added, "each list needs at least one item"

    def keys(block):
        found = set()
        for names in re.findall(r"^\s*- ([\w, ]+?)(?: \((?:each )?optional\))?:", block, re.M):
            found |= {n.strip() for n in names.split(",")}
        return found

    return keys(required), keys(added)


def _keys_in_code(cls) -> set[str]:
    """The record keys a transform's code names: `results['k']`, `results.get('k')`, the key tuples it loops
    over (`FIELDS` too), keywords of the dict it packs, and `rng` where it draws random numbers."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
                node.value.id in ("results", "record", "out") and isinstance(node.slice, ast.Constant) and \
                isinstance(node.slice.value, str):
            found.add(node.slice.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name) and node.func.value.id in ("results", "record") and \
                node.func.attr in ("get", "setdefault") and isinstance(node.args[0], ast.Constant):
            found.add(node.args[0].value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            found |= {k.arg for k in node.keywords}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_rng":
            found.add("rng")
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple):
            found |= {e.value for e in node.iter.elts if isinstance(e, ast.Constant)}
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "FIELDS" for t in node.targets):
            found |= {e.value for e in node.value.elts}
    return found


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_transform_documents_exactly_the_keys_its_code_names(name):
    cls = CLASSES[name]
    required, added = _documented_keys(cls.__doc__ or "")
    assert required | added == _keys_in_code(cls)
    assert cls.__doc__.index("Required keys:") > 0  # after the text saying why


def test_compose_documents_its_keys():
    _documented_keys(Compose.__doc__ or "")


# --------------------------------------------------------------------------- SkateFormer's drops


def _scaled_joints(seed=0):
    x = np.random.default_rng(seed).uniform(0.1, 1, (1, 40, 20, 3)).astype(np.float32)
    return x


def test_drop_axis_zeroes_exactly_one_axis_or_nothing():
    drop = build_from_cfg(dict(type="RandomDropAxis", p=0.5), TRANSFORMS)
    seen = set()
    for seed in range(40):
        x = _scaled_joints()
        out = drop(dict(joints=x.copy(), rng=np.random.default_rng(seed)))["joints"]
        zero_axes = [a for a in range(3) if not out[..., a].any()]
        assert len(zero_axes) <= 1
        kept = [a for a in range(3) if a not in zero_axes]
        assert np.array_equal(out[..., kept], x[..., kept])
        seen.add(tuple(zero_axes))
    assert seen == {(), (0,), (1,), (2,)}  # sometimes none, every axis sometimes


def test_drop_joints_zeroes_the_drawn_joints_in_the_drawn_frames_only():
    drop = build_from_cfg(dict(type="RandomDropJoints", p=1.0, num_joints=(4, 12), frame_frac=(0.25, 0.5)),
                          TRANSFORMS)
    for seed in range(20):
        x = _scaled_joints(seed)
        out = drop(dict(joints=x.copy(), rng=np.random.default_rng(seed)))["joints"]
        gone = ~out.any(-1)[0]  # (T, V): dropped joints
        frames, joints = np.flatnonzero(gone.any(1)), np.flatnonzero(gone.any(0))
        assert 4 <= len(joints) <= 12 and 10 <= len(frames) <= 20
        assert gone[np.ix_(frames, joints)].all()  # a rectangle of frames x joints
        assert gone.sum() == len(frames) * len(joints)
        assert np.array_equal(out[0][~gone], x[0][~gone])  # the rest untouched


def test_drops_never_fire_at_p_zero_and_refuse_bad_ranges():
    x = _scaled_joints()
    for cfg in (dict(type="RandomDropAxis", p=0.0), dict(type="RandomDropJoints", p=0.0)):
        out = build_from_cfg(cfg, TRANSFORMS)(dict(joints=x.copy(), rng=np.random.default_rng(0)))["joints"]
        assert np.array_equal(out, x)
    with pytest.raises(ValueError, match="num_joints"):
        build_from_cfg(dict(type="RandomDropJoints", num_joints=(5, 2)), TRANSFORMS)
    with pytest.raises(ValueError, match="frame_frac"):
        build_from_cfg(dict(type="RandomDropJoints", frame_frac=(0.5, 2)), TRANSFORMS)


def test_per_frame_centring_takes_out_the_travel_and_keeps_the_pose():
    lay = get_layout("kinect_v1_20")
    rng = np.random.default_rng(0)
    body = rng.normal(0, 0.3, (1, 1, 20, 3)).astype(np.float32)
    travel = np.linspace([0, 0, 2], [1.5, 0, 4], 30, dtype=np.float32)[None, :, None, :]  # walks 2.5 m
    x = body + travel
    x[0, 5, 7] = 0  # a missing joint stays missing
    out = build_from_cfg(dict(type="CentreSkeleton", per_frame=True), TRANSFORMS)(
        dict(joints=x.copy(), layout="kinect_v1_20"))["joints"]
    assert np.abs(out[0, :, lay.center]).max() < 1e-6  # the centre joint at the origin in every frame
    want = np.broadcast_to(body - body[:, :, lay.center:lay.center + 1], x.shape).copy()
    want[0, 5, 7] = 0
    np.testing.assert_allclose(out, want, atol=1e-5)  # the same pose in every frame: the travel is gone
    whole = build_from_cfg(dict(type="CentreSkeleton"), TRANSFORMS)(dict(joints=x.copy(), layout="kinect_v1_20"))
    assert np.ptp(whole["joints"][0, :, lay.center, 0]) > 1.4  # without per_frame the travel stays


def test_limb_damping_shrinks_the_legs_swing_about_their_mean_and_nothing_else():
    lay = get_layout("kinect_v1_20")
    t = np.arange(40, dtype=np.float32)
    x = np.random.default_rng(1).normal(0, 0.3, (1, 1, 20, 3)).astype(np.float32).repeat(40, axis=1)
    legs = [lay.joint_names.index(n) for n in ("left_knee", "left_ankle", "right_foot")]
    for j in legs:
        x[0, :, j, 2] += 0.2 * np.sin(t / 3)  # the legs swing back and forth
    x[0, :, :, 0] += t[:, None] * 0.05  # and the whole body walks
    damp = build_from_cfg(dict(type="RandomLimbDamping", p=1.0, factor=(0.5, 0.5)), TRANSFORMS)
    out = damp(dict(joints=x.copy(), layout="kinect_v1_20", rng=np.random.default_rng(0)))["joints"]
    others = [i for i in range(20) if "knee" not in lay.joint_names[i] and "ankle" not in lay.joint_names[i]
              and "foot" not in lay.joint_names[i]]
    np.testing.assert_array_equal(out[:, :, others], x[:, :, others])
    rel_in = x[0][:, legs] - x[0][:, :1]
    rel_out = out[0][:, legs] - out[0][:, :1]
    np.testing.assert_allclose(rel_out - rel_out.mean(0), 0.5 * (rel_in - rel_in.mean(0)), atol=1e-5)
    np.testing.assert_allclose(rel_out.mean(0), rel_in.mean(0), atol=1e-5)  # the mean pose is kept
