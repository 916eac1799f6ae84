"""Data transforms: small composable callables from an annotation record to model inputs.

Each transform takes and returns a dict (`results`). The 3D joints travel as `joints` (M, T, V, 3), the
2D pose as `pose_xy` (M, T, V, 2) + `pose_sc` (M, T, V); the last transform packs `skeleton` and `pose`
as (C, T, V, M) arrays (or (clips, C, T, V, M) for multi-clip testing), which the model takes batched.
Training and video inference build their inputs with the same pipeline from the config (`build_pipeline`),
so a model never sees inputs prepared differently from how it was trained. All numpy, vectorised over
persons, frames and joints.

Each transform's docstring lists the keys it reads (Required keys; "optional" ones it uses when present)
and the keys it adds or overwrites (Added or changed keys), as mmaction2's do, and its `repr` is the
transform as a config would write it (`UniformSample(clip_len=52, num_clips=1, test_mode=True)`). The
registry, `TRANSFORMS`, lives with the model registry in `models.registry`; it is re-exported here.
"""
from __future__ import annotations

import inspect
import math
from typing import Callable

import numpy as np

from models.heatmaps import normalize_to_person_box
from models.layouts import get_layout, joint_map
from models.registry import TRANSFORMS, build_from_cfg  # TRANSFORMS stays importable from here too


def _rng(results: dict) -> np.random.Generator:
    return results.get("rng") or np.random.default_rng()


# Every number a transform takes is checked when the pipeline is built, against bounds no sane config comes
# near: a pipeline read from a checkpoint's or an ONNX file's metadata must not make us allocate 74 GiB
# (clip_len=1e10) or loop for hours before the first sample.
MAX_CLIP_LEN = 100_000  # frames per clip
MAX_NUM_CLIPS = 1_000  # test clips per sample
MAX_SAMPLED_FRAMES = 100_000  # clip_len * num_clips
MAX_NUM_PERSON = 1_000
MAX_FPS = 1_000.0


def _number(name: str, value, lo: float, hi: float, integer: bool = False, lo_open: bool = False):
    """`value` if it is a (finite) number in [lo, hi] ((lo, hi] with lo_open), an int if `integer`; else a
    one-line ValueError naming the parameter (build_from_cfg adds the transform)."""
    kind = "an integer" if integer else "a number"
    types = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = isinstance(value, types) and not isinstance(value, bool)
    if ok:
        try:
            ok = math.isfinite(value) and (value > lo if lo_open else value >= lo) and value <= hi
        except OverflowError:  # an int too large for a float
            ok = False
    if not ok:
        span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
        raise ValueError(f"{name} must be {kind} in {span}, got {value!r:.60}")
    return int(value) if integer else float(value)


def _span(name: str, value, lo: float, hi: float, integer: bool = False) -> tuple:
    """`value` as a checked (low, high) pair with lo <= low <= high <= hi; a one-line ValueError otherwise."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be (low, high), got {value!r:.60}")
    low = _number(f"{name}[0]", value[0], lo, hi, integer=integer)
    return low, _number(f"{name}[1]", value[1], low, hi, integer=integer)


class ConfigRepr:
    """`repr` as a config would write the transform: its class name and every constructor argument, read
    back from the attribute of the same name (each transform keeps its arguments under their own names, as
    the checked values it uses), so `eval(repr(t), {type(t).__name__: type(t)})` builds the same transform."""

    def __repr__(self) -> str:
        params = inspect.signature(type(self).__init__).parameters.values()
        args = ", ".join(f"{p.name}={getattr(self, p.name)!r}" for p in list(params)[1:]
                         if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        return f"{type(self).__name__}({args})"


@TRANSFORMS.register_module()
class SelectSkeleton(ConfigRepr):
    """Pick the 3D joints: Kinect (`keypoint`), the estimator's (`pose_world`), or randomly either (mixed).

    Required keys:
        - keypoint: (M, T, V, 3) Kinect joints, for source 'kinect' (and 'mixed' when it picks Kinect)
        - pose_world: (M, T, V, 3) the estimator's 3D joints, for source 'estimated' (and 'mixed' when it
          picks them); a record without them is refused in one line
        - rng (optional): the random generator, for source 'mixed' in training
        - frame_dir (optional): the sample's name, for error messages
    Added or changed keys:
        - joints: (M, T, V, 3) float32, a copy of the chosen joints
    """

    def __init__(self, source: str = "kinect", test_mode: bool = False):
        if source not in ("kinect", "estimated", "mixed"):
            raise ValueError(f"skeleton_source must be kinect, estimated or mixed, got {source!r}")
        self.source, self.test_mode = source, test_mode

    def __call__(self, results: dict) -> dict:
        source = self.source
        if source == "mixed":
            source = "kinect" if (self.test_mode or _rng(results).random() < 0.5) else "estimated"
        if source == "estimated":
            if results.get("pose_world") is None:
                raise ValueError(f"{results.get('frame_dir')}: skeleton_source={self.source} needs the estimator's "
                                 f"3D joints (pose_world), which this record lacks (extracted with POSE=none, or "
                                 f"by a 2D-only backend such as mmpose); use skeleton_source='kinect'")
            joints = results["pose_world"]
        else:
            joints = results["keypoint"]
        if joints.shape[-1] != 3:
            raise ValueError(f"{results.get('frame_dir')}: the file holds 2D keypoints {tuple(joints.shape)}, "
                             f"this config wants 3D skeletons; use a 2D config such as "
                             f"configs/pggcn_ntu60_xsub_2d.py")
        results["joints"] = np.array(joints, dtype=np.float32)  # a copy: records may be read-only maps
        return results


@TRANSFORMS.register_module()
class MapLayout(ConfigRepr):
    """Re-express a record in another joint layout (NTU-25 data for a Kinect-v1-20 model, say): every
    per-joint field is indexed by `models.layouts.joint_map`. A record already in `target` passes unchanged.

    Required keys:
        - layout (optional): the record's joint layout, 'ntu25' when absent
        - keypoint, pose_world, pose_keypoint, pose_score, kinect_color, keypoint_score (each optional):
          the per-joint fields, (M, T, V, ...)
    Added or changed keys:
        - keypoint, pose_world, pose_keypoint, pose_score, kinect_color, keypoint_score: those present, with
          `target`'s joints on axis 2
        - layout: set to `target`
    """

    FIELDS = ("keypoint", "pose_world", "pose_keypoint", "pose_score", "kinect_color", "keypoint_score")

    def __init__(self, target: str):
        self.target = get_layout(target).name

    def __call__(self, results: dict) -> dict:
        source = results.get("layout", "ntu25")
        if source == self.target:
            return results
        idx = joint_map(source, self.target)
        for key in self.FIELDS:
            if results.get(key) is not None:
                results[key] = np.asarray(results[key])[:, :, idx]
        results["layout"] = self.target
        return results


@TRANSFORMS.register_module()
class ResampleFps(ConfigRepr):
    """Resample a clip's frames to `fps` by time, so clips recorded at 15 and 30 fps give the model the same
    temporal sampling (records without `fps`, e.g. NTU's, are left as they are).

    Required keys:
        - keypoint: (M, T, V, C), whose T is the clip's frame count
        - fps (optional): the clip's frame rate; without it (or at `fps` already) nothing changes
        - pose_world, pose_keypoint, pose_score, kinect_color, keypoint_score (each optional): resampled
          with `keypoint`
    Added or changed keys:
        - keypoint, pose_world, pose_keypoint, pose_score, kinect_color, keypoint_score: those present, with
          the frames (axis 1) taken at `fps`
        - total_frames: the new frame count
        - fps: set to `fps`
    """

    FIELDS = ("keypoint", "pose_world", "pose_keypoint", "pose_score", "kinect_color", "keypoint_score")

    def __init__(self, fps: float = 15.0):
        self.fps = _number("fps", fps, 0, MAX_FPS, lo_open=True)

    def __call__(self, results: dict) -> dict:
        src = results.get("fps")
        t = results["keypoint"].shape[1]
        if not src or abs(src - self.fps) < 1e-3 or t == 0:
            return results
        n = max(1, int(round(t * self.fps / src)))
        # the frame nearest each sample's time; rounding down instead took every odd frame of a 29.97 fps clip
        # (frame 1 for 1/15 s, where frame 2 is on time), and under video inference's every-2nd-frame pose
        # tracking those are the interpolated ones
        idx = np.minimum(np.floor(np.arange(n) * src / self.fps + 0.5).astype(np.int64), t - 1)
        for key in self.FIELDS:
            if results.get(key) is not None:
                results[key] = np.asarray(results[key])[:, idx]
        results["total_frames"], results["fps"] = n, self.fps
        return results


@TRANSFORMS.register_module()
class From2DKeypoints(ConfigRepr):
    """2D files (pyskl / mmaction2: `keypoint` (M, T, V, 2) pixels + `keypoint_score` (M, T, V), e.g. COCO-17
    from HRNet) as model input: the skeleton streams get (x, y, score) with x, y scaled to [-1, 1] by the
    image size (pyskl's PreNormalize2D; the clip's keypoint extent when the file has no img_shape), and the
    pose stream gets the same keypoints as its 2D pose.

    Required keys:
        - keypoint: (M, T, V, 2) pixel coordinates
        - keypoint_score (optional): (M, T, V) scores, all 1 when absent
        - img_shape (optional): (h, w, ...) of the video, for the scaling
        - frame_dir (optional): the sample's name, for error messages
    Added or changed keys:
        - joints: (M, T, V, 3) float32 (x, y scaled to [-1, 1], score); unscored joints get x = y = 0
        - pose_keypoint: (M, T, V, 2) float32, the keypoints as they came
        - pose_score: (M, T, V) float32, the scores
        - pose_source: 'keypoint (2D file)', only when the record has none
    """

    def __call__(self, results: dict) -> dict:
        kp = np.asarray(results["keypoint"], np.float32)
        if kp.shape[-1] != 2:
            raise ValueError(f"{results.get('frame_dir')}: From2DKeypoints needs 2D keypoints (M, T, V, 2), got "
                             f"{kp.shape}")
        score = results.get("keypoint_score")
        score = np.ones(kp.shape[:-1], np.float32) if score is None else np.asarray(score, np.float32)
        if results.get("img_shape") is not None:
            h, w = results["img_shape"][:2]
        else:
            seen = kp[score > 0]
            w, h = (seen.max(0) if len(seen) else np.ones(2)) * 1.0
        half = np.array([w, h], np.float32) / 2
        xy = (kp - half) / np.maximum(half, 1e-6) * (score[..., None] > 0)
        results["joints"] = np.concatenate([xy, score[..., None]], axis=-1).astype(np.float32)
        results["pose_keypoint"], results["pose_score"] = kp, score
        results.setdefault("pose_source", "keypoint (2D file)")
        return results


@TRANSFORMS.register_module()
class CentreSkeleton(ConfigRepr):
    """Translate so the layout's centre joint of the first frame with a person sits at the origin.

    With `align=True`, also rotate as pyskl's PreNormalize3D: the spine (base -> middle) along +z and the
    shoulders (right -> left) along +x, making the skeleton independent of where the camera stood.

    With `per_frame=True`, every person is instead moved to their own centre joint in every frame: the body's
    travel through the scene is taken out and only its motion about its centre is left. That is all a
    monocular estimator's 3D "world" joints hold (MediaPipe's are centred on the hips in every frame), so a
    model meant for video is trained on Kinect joints made the same way (issue #23: a model that learnt walking
    from the Kinect body's travel called a video's walker "throw" and "carry").

    Required keys:
        - joints: (M, T, V, 3); the first person's first frame with any joint gives the origin
        - layout (optional): the joint layout, 'ntu25' when absent
    Added or changed keys:
        - joints: float32, moved (and with `align` rotated); absent joints stay exact zeros, and a clip whose
          first person never appears is left as it is
    """

    def __init__(self, align: bool = False, per_frame: bool = False):
        self.align = align
        self.per_frame = per_frame

    def __call__(self, results: dict) -> dict:
        x = results["joints"]
        lay = get_layout(results.get("layout", "ntu25"))
        present = np.abs(x[0]).sum(axis=(1, 2)) > 0
        if not present.any():
            return results
        t0 = int(np.argmax(present))
        mask = (np.abs(x).sum(-1, keepdims=True) > 0)
        if self.per_frame:
            x = (x - x[:, :, lay.center:lay.center + 1]) * mask  # each person, each frame: (M, T, 1, 3)
        else:
            x = (x - x[0, t0, lay.center].copy()) * mask
        if self.align:
            x = _align(x, lay, t0) * mask
        results["joints"] = x.astype(np.float32)
        return results


def _align(x: np.ndarray, lay, t0: int) -> np.ndarray:
    names = lay.joint_names
    bottom = names.index("spine_base") if "spine_base" in names else names.index("hip_center")
    top = names.index("spine_mid") if "spine_mid" in names else names.index("spine")
    ls, rs = names.index("left_shoulder"), names.index("right_shoulder")
    first = x[0, t0]
    rot = _rotation_to(first[top] - first[bottom], np.array([0.0, 0.0, 1.0]))
    sh = rot @ (first[ls] - first[rs])
    sh[2] = 0
    rot = _rotation_to(sh, np.array([1.0, 0.0, 0.0])) @ rot
    return x @ rot.T.astype(np.float32)


def _rotation_to(v: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation matrix that turns direction v onto direction target (Rodrigues)."""
    n = np.linalg.norm(v)
    if n < 1e-6:
        return np.eye(3)
    v = v / n
    axis = np.cross(v, target)
    s, c = np.linalg.norm(axis), float(np.dot(v, target))
    if s < 1e-8:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


@TRANSFORMS.register_module()
class RandomLimbDamping(ConfigRepr):
    """With probability `p`, scale the legs' motion about their mean pose by a random factor in `factor`.

    Why: a monocular estimator's 3D legs swing less than Kinect's (MediaPipe's about half as much while
    walking, measured on GMDCSA24 against NW-UCLA), so a model trained on Kinect joints meets smaller steps on
    video. Knees, ankles and feet are moved, relative to the hip root (hip_center / spine_base), towards their
    mean position over the clip; everything else is left as it is.

    Required keys:
        - joints: (M, T, V, 3)
        - layout (optional): the joint layout, 'ntu25' when absent
        - rng (optional): the random generator
    Added or changed keys:
        - joints: float32, the leg joints' motion damped (or unchanged); absent joints stay exact zeros
    """

    LEG_WORDS = ("knee", "ankle", "foot")

    def __init__(self, p: float = 0.5, factor: tuple[float, float] = (0.4, 1.0)):
        self.p = _number("p", p, 0, 1)
        self.factor = _span("factor", factor, 0, 1)

    def __call__(self, results: dict) -> dict:
        rng = _rng(results)
        if rng.random() >= self.p:
            return results
        names = get_layout(results.get("layout", "ntu25")).joint_names
        roots = [names.index(n) for n in ("hip_center", "spine_base") if n in names]
        legs = [i for i, n in enumerate(names) if any(w in n for w in self.LEG_WORDS)]
        if not roots or not legs:
            return results
        x = results["joints"].astype(np.float32, copy=True)
        ok = np.abs(x).sum(-1, keepdims=True) > 0  # (M, T, V, 1)
        root = x[:, :, roots[0]:roots[0] + 1]  # (M, T, 1, 3)
        rel, seen = x[:, :, legs] - root, ok[:, :, legs] & ok[:, :, roots[0]:roots[0] + 1]
        mean = (rel * seen).sum(1, keepdims=True) / np.maximum(seen.sum(1, keepdims=True), 1)
        f = np.float32(rng.uniform(*self.factor))
        x[:, :, legs] = np.where(seen, root + mean + f * (rel - mean), x[:, :, legs])
        results["joints"] = x * ok
        return results


@TRANSFORMS.register_module()
class UniformSample(ConfigRepr):
    """Sample `clip_len` frames spread evenly over the clip (pyskl's UniformSampleFrames).

    The clip is cut into clip_len equal segments; training takes a random frame from each, testing the
    middle one (and `num_clips` > 1 shifted offsets for multi-clip testing). Clips shorter than clip_len
    are looped. The same frames are taken from every per-frame field, so 2D and 3D stay aligned.

    Required keys:
        - joints: (M, T, V, C), at least one frame
        - pose_keypoint, pose_score, kinect_color, kinect_tracking, keypoint_score (each optional): sampled
          with `joints`
        - rng (optional): the random generator, in training
        - frame_dir (optional): the sample's name, for error messages
    Added or changed keys:
        - joints, pose_keypoint, pose_score, kinect_color, kinect_tracking, keypoint_score: those present,
          with num_clips * clip_len frames (the clips one after another on axis 1)
        - num_clips: `num_clips`
        - clip_len: `clip_len`
    """

    def __init__(self, clip_len: int = 100, num_clips: int = 1, test_mode: bool = False):
        clip_len = _number("clip_len", clip_len, 1, MAX_CLIP_LEN, integer=True)
        num_clips = _number("num_clips", num_clips, 1, MAX_NUM_CLIPS, integer=True)
        if clip_len * num_clips > MAX_SAMPLED_FRAMES:
            raise ValueError(f"clip_len * num_clips must be at most {MAX_SAMPLED_FRAMES} frames, got "
                             f"{clip_len} * {num_clips}")
        self.clip_len, self.num_clips, self.test_mode = clip_len, num_clips, test_mode

    def indices(self, total: int, rng: np.random.Generator) -> np.ndarray:
        edges = np.linspace(0, total, self.clip_len + 1)
        lo, width = edges[:-1], np.diff(edges)
        if self.test_mode:
            offsets = (np.arange(self.num_clips)[:, None] + 0.5) / self.num_clips  # (clips, 1)
        else:
            offsets = rng.random((self.num_clips, self.clip_len))
        idx = np.floor(lo + offsets * width).astype(np.int64)
        return np.clip(idx, 0, total - 1).reshape(-1)

    def __call__(self, results: dict) -> dict:
        total = results["joints"].shape[1]
        if total < 1:
            raise ValueError(f"{results.get('frame_dir')}: no frames")
        idx = self.indices(total, _rng(results))
        for key in ("joints", "pose_keypoint", "pose_score", "kinect_color", "kinect_tracking", "keypoint_score"):
            if results.get(key) is not None:
                results[key] = results[key][:, idx]
        results["num_clips"] = self.num_clips
        results["clip_len"] = self.clip_len
        return results


@TRANSFORMS.register_module()
class RandomRotate(ConfigRepr):
    """Rotate the skeleton by random angles about x, y and z (up to `max_deg` degrees each).

    Required keys:
        - joints: (M, T, V, 3)
        - rng (optional): the random generator
    Added or changed keys:
        - joints: float32, rotated (about the axes in `axes` only)
    """

    def __init__(self, max_deg: float = 30.0, axes: str = "xyz"):
        if not isinstance(axes, str) or not set(axes) <= set("xyz"):
            raise ValueError(f"axes must be some of 'xyz', got {axes!r:.60}")
        self.max_deg = _number("max_deg", max_deg, 0, 360)
        self.max_rad, self.axes = math.radians(self.max_deg), axes

    def __call__(self, results: dict) -> dict:
        a = _rng(results).uniform(-self.max_rad, self.max_rad, 3) * [c in self.axes for c in "xyz"]
        cx, cy, cz, sx, sy, sz = *np.cos(a), *np.sin(a)
        rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        results["joints"] = (results["joints"] @ (rz @ ry @ rx).T.astype(np.float32)).astype(np.float32)
        return results


@TRANSFORMS.register_module()
class RandomScale(ConfigRepr):
    """Scale each axis by a random factor in [1 - scale, 1 + scale].

    Required keys:
        - joints: (M, T, V, 3)
        - rng (optional): the random generator
    Added or changed keys:
        - joints: scaled per axis
    """

    def __init__(self, scale: float = 0.1):
        self.scale = _number("scale", scale, 0, 1)

    def __call__(self, results: dict) -> dict:
        f = _rng(results).uniform(1 - self.scale, 1 + self.scale, 3).astype(np.float32)
        results["joints"] = results["joints"] * f
        return results


@TRANSFORMS.register_module()
class JointNoise(ConfigRepr):
    """Gaussian jitter and random joint dropout: makes Kinect joints look like an estimator's, and back.

    Required keys:
        - joints: (M, T, V, C)
        - rng (optional): the random generator
    Added or changed keys:
        - joints: float32, present joints jittered by `std`; each joint of each frame dropped (zeroed)
          with probability `drop_prob`
    """

    def __init__(self, std: float = 0.01, drop_prob: float = 0.0):
        self.std = _number("std", std, 0, 10)
        self.drop_prob = _number("drop_prob", drop_prob, 0, 1)

    def __call__(self, results: dict) -> dict:
        rng = _rng(results)
        x = results["joints"]
        mask = np.abs(x).sum(-1, keepdims=True) > 0
        x = x + rng.normal(0, self.std, x.shape).astype(np.float32) * mask
        if self.drop_prob > 0:
            keep = rng.random(x.shape[:-1] + (1,)) >= self.drop_prob
            x = x * keep
        results["joints"] = x.astype(np.float32)
        return results


@TRANSFORMS.register_module()
class MinMaxScale(ConfigRepr):
    """Scale the present joints of a sample into [-1, 1] per axis (CTR-GCN's NW-UCLA normalisation).

    Makes the input independent of body size and camera distance, which also bridges metric Kinect
    joints and an estimator's differently scaled 3D joints.

    Required keys:
        - joints: (M, T, V, C)
    Added or changed keys:
        - joints: float32, present joints scaled into [-1, 1], absent ones exact zeros (a sample without
          any joint is left as it is)
    """

    def __call__(self, results: dict) -> dict:
        x = results["joints"]
        mask = np.abs(x).sum(-1) > 0
        if not mask.any():
            return results
        pts = x[mask]
        lo, hi = pts.min(0), pts.max(0)
        scaled = (x - lo) / np.maximum(hi - lo, 1e-6) * 2 - 1
        results["joints"] = (scaled * mask[..., None]).astype(np.float32)
        return results


@TRANSFORMS.register_module()
class RandomDropAxis(ConfigRepr):
    """With probability `p`, zero one random coordinate axis of every joint (SkateFormer's NW-UCLA "drop
    axis"): the model learns not to lean on one axis, which an estimator's depth gets most wrong.

    Place it after MinMaxScale: a zeroed axis is then the middle of the body's range, not a far-off value.

    Required keys:
        - joints: (M, T, V, C)
        - rng (optional): the random generator
    Added or changed keys:
        - joints: float32, one axis set to 0 for all persons, frames and joints (or unchanged)
    """

    def __init__(self, p: float = 0.5):
        self.p = _number("p", p, 0, 1)

    def __call__(self, results: dict) -> dict:
        rng = _rng(results)
        if rng.random() < self.p:
            x = results["joints"].astype(np.float32, copy=True)
            x[..., rng.integers(x.shape[-1])] = 0
            results["joints"] = x
        return results


@TRANSFORMS.register_module()
class RandomDropJoints(ConfigRepr):
    """With probability `p`, zero a random set of joints in a random subset of frames (SkateFormer's NW-UCLA
    "drop joint"): occlusion and an estimator's missed joints, seen in training.

    Between `num_joints[0]` and `num_joints[1]` joints (capped at the layout's) are dropped in a random
    `frame_frac` share of the frames (frames drawn without regard to order, as SkateFormer does). A dropped
    joint is zero, which the model reads as absent.

    Required keys:
        - joints: (M, T, V, C)
        - rng (optional): the random generator
    Added or changed keys:
        - joints: float32, the drawn joints zeroed in the drawn frames for every person (or unchanged)
    """

    def __init__(self, p: float = 0.5, num_joints: tuple[int, int] = (4, 12),
                 frame_frac: tuple[float, float] = (0.25, 0.5)):
        self.p = _number("p", p, 0, 1)
        self.num_joints = _span("num_joints", num_joints, 0, 10_000, integer=True)
        self.frame_frac = _span("frame_frac", frame_frac, 0, 1)

    def __call__(self, results: dict) -> dict:
        rng = _rng(results)
        if rng.random() >= self.p:
            return results
        x = results["joints"].astype(np.float32, copy=True)
        _, t, v, _ = x.shape
        n_v = min(int(rng.integers(self.num_joints[0], self.num_joints[1] + 1)), v)
        n_t = min(int(round(t * rng.uniform(*self.frame_frac))), t)
        frames = rng.choice(t, n_t, replace=False)
        joints = rng.choice(v, n_v, replace=False)
        x[:, frames[:, None], joints[None, :]] = 0
        results["joints"] = x
        return results


@TRANSFORMS.register_module()
class PoseInput(ConfigRepr):
    """The pose stream's input: 2D keypoints in the unit person box + scores, non-mirrored convention.

    source='record': the estimator's `pose_keypoint`/`pose_score`; when a record has none, the `fallback`
    sources in order: 'kinect_color' (the Kinect colour-space joints, NTU: mirrored, with `noise_px` jitter)
    and 'projection' (as below: pyskl's and mmaction2's NTU files have neither estimator output nor colour
    joints). Records with pose_mirrored=True get x flipped (x -> 1 - x) so that every source looks like an
    ordinary camera image, as in video inference.
    source='projection': an orthographic camera view of the current 3D joints (after any RandomRotate), with
    `noise_m` metres of jitter. For datasets without RGB (NW-UCLA) this keeps the pose stream view-augmented
    together with the skeleton streams; a fixed projection from the recording camera ties it to the
    training views, which is exactly what a cross-view split punishes.

    Required keys:
        - joints: (M, T, V, 3), for source 'projection' and the 'projection' and 'kinect_color' fallbacks
          (the latter takes its scores from which joints are present)
        - pose_keypoint, pose_score: (M, T, V, 2) pixels and (M, T, V) scores, for source 'record' (when
          `pose_keypoint` is absent a fallback is used, and with none that applies the record is refused)
        - kinect_color (optional): (M, T, V, 2) Kinect colour-space joints, for the 'kinect_color' fallback
        - pose_mirrored (optional): whether `pose_keypoint` is mirrored, False when absent
        - pose_source (optional): what made `pose_keypoint`, 'estimator' when absent
        - rng (optional): the random generator, for `noise_px` and `noise_m`
        - frame_dir (optional): the sample's name, for error messages
    Added or changed keys:
        - pose_xy: (M, T, V, 2) keypoints in the unit person box, not mirrored
        - pose_sc: (M, T, V) float32 scores
        - pose_source_used: the 2D source used ('projection', 'kinect_color', or the record's pose_source)
    """

    FALLBACKS = ("kinect_color", "projection")

    def __init__(self, fallback: str | list[str] | tuple[str, ...] | None = ("kinect_color", "projection"),
                 noise_px: float = 0.0, min_score: float = 0.05, source: str = "record", noise_m: float = 0.0):
        if source not in ("record", "projection"):
            raise ValueError(f"PoseInput source must be 'record' or 'projection', got {source!r}")
        self.fallback = (fallback,) if isinstance(fallback, str) else tuple(fallback or ())
        unknown = [f for f in self.fallback if f not in self.FALLBACKS]
        if unknown:
            raise ValueError(f"PoseInput fallback must be among {self.FALLBACKS}, got {unknown}")
        self.noise_px = _number("noise_px", noise_px, 0, 10_000)
        self.min_score = _number("min_score", min_score, 0, 1)
        self.source, self.noise_m = source, _number("noise_m", noise_m, 0, 10)

    def source_for(self, record: dict) -> str:
        """Which 2D source this record gets: 'projection', 'record', 'kinect_color' (or ValueError)."""
        if self.source == "projection":
            return "projection"
        if record.get("pose_keypoint") is not None:
            return "record"
        for fallback in self.fallback:
            if fallback == "projection" or record.get(fallback) is not None:
                return fallback
        raise ValueError(f"{record.get('frame_dir')}: no 2D pose (pose_keypoint) and no fallback among "
                         f"{self.fallback or 'none'} applies")

    def __call__(self, results: dict) -> dict:
        used = self.source_for(results)
        if used == "projection":
            joints = results["joints"].astype(np.float32)  # (M, T, V, 3) Kinect axes: x to the sensor's left, y up
            sc = (np.abs(joints).sum(-1) > 0).astype(np.float32)
            if self.noise_m > 0:
                joints = joints + _rng(results).normal(0, self.noise_m, joints.shape).astype(np.float32)
            xy, mirrored = np.stack([-joints[..., 0], -joints[..., 1]], axis=-1), False
        elif used == "record":
            xy = results["pose_keypoint"].astype(np.float32)
            sc = results["pose_score"].astype(np.float32)
            mirrored = bool(results.get("pose_mirrored", False))
        else:
            xy = results["kinect_color"].astype(np.float32)
            sc = (np.abs(results["joints"]).sum(-1) > 0).astype(np.float32)
            mirrored = True
        results["pose_source_used"] = results.get("pose_source", "estimator") if used == "record" else used
        if self.noise_px > 0 and used != "projection":
            xy = xy + _rng(results).normal(0, self.noise_px, xy.shape).astype(np.float32)
        unit = normalize_to_person_box(xy, sc, min_score=self.min_score)
        if mirrored:
            unit[..., 0] = 1.0 - unit[..., 0]
        results["pose_xy"], results["pose_sc"] = unit, sc
        return results


@TRANSFORMS.register_module()
class PackInputs(ConfigRepr):
    """Pad/cut persons to `num_person` and pack (C, T, V, M) arrays (multi-clip: (clips, C, T, V, M)).

    It returns a new dict holding only the keys below: every other key of `results` is dropped.

    Required keys:
        - joints: (M, T, V, C)
        - pose_xy, pose_sc: (M, T, V, 2) and (M, T, V), with `with_pose`
        - num_clips (optional): clips laid one after another on the frame axis, 1 when absent
        - label (optional): the class index, -1 when absent
        - frame_dir (optional): the sample's name, '' when absent
    Added or changed keys:
        - skeleton: float32 (C, T, V, num_person), or (clips, C, T, V, num_person)
        - pose: float32 (3, T, V, num_person) (x, y, score), or with clips first; with `with_pose` only
        - label: int
        - frame_dir: the sample's name
    """

    def __init__(self, num_person: int = 2, with_pose: bool = True):
        self.num_person = _number("num_person", num_person, 1, MAX_NUM_PERSON, integer=True)
        self.with_pose = with_pose

    def _pack(self, x: np.ndarray, clips: int) -> np.ndarray:
        m, t, v, c = x.shape
        out = np.zeros((self.num_person, t, v, c), np.float32)
        out[:min(m, self.num_person)] = x[:self.num_person]
        out = out.reshape(self.num_person, clips, t // clips, v, c).transpose(1, 4, 2, 3, 0)  # (clips, C, T, V, M)
        return np.ascontiguousarray(out[0] if clips == 1 else out)

    def __call__(self, results: dict) -> dict:
        clips = results.get("num_clips", 1)
        out = dict(skeleton=self._pack(results["joints"], clips), label=int(results.get("label", -1)),
                   frame_dir=results.get("frame_dir", ""))
        if self.with_pose:
            pose = np.concatenate([results["pose_xy"], results["pose_sc"][..., None]], axis=-1)
            out["pose"] = self._pack(pose, clips)
        return out


class Compose:
    """Run transforms one after another, each on the dict the one before returned.

    Required keys:
        - those of its first transform, and of each later one that the steps before it do not add
    Added or changed keys:
        - those its transforms add or change (PackInputs, last, returns a new dict with only its own keys)
    """

    def __init__(self, transforms: list[Callable]):
        self.transforms = transforms

    def __repr__(self) -> str:
        """`Compose([` and `])` around the steps' reprs, one step a line, as a config lists them."""
        if not self.transforms:
            return "Compose([])"
        return "Compose([\n" + "".join(f"    {t!r},\n" for t in self.transforms) + "])"

    def __call__(self, results: dict) -> dict:
        for t in self.transforms:
            results = t(results)
        return results


def build_pipeline(cfg_list: list[dict | Callable]) -> Compose:
    """Build a Compose from config dicts like dict(type='UniformSample', clip_len=100) (types from this
    project's TRANSFORMS only; ValueError otherwise) or ready callables given by Python code."""
    if not isinstance(cfg_list, (list, tuple)):
        raise ValueError(f"a pipeline must be a list of transforms, got {type(cfg_list).__name__}")
    return Compose([cfg if callable(cfg) else build_from_cfg(cfg, TRANSFORMS) for cfg in cfg_list])


def check_test_pipeline(cfg_list: list) -> None:
    """A test pipeline read from a file (a checkpoint's or an ONNX file's metadata) must make the model's
    inputs: not empty, 3D or 2D joints picked (SelectSkeleton / From2DKeypoints) before PackInputs, which
    comes last and packs `skeleton` (and, with its pose, a PoseInput before it). ValueError otherwise, one
    line saying what is missing; build_pipeline has checked every step's type and numbers already."""
    if not isinstance(cfg_list, (list, tuple)) or not cfg_list:
        raise ValueError("its test pipeline is empty: it would give the model no `skeleton` input")
    if any(callable(step) for step in cfg_list):
        return  # built by Python code, not read from a file
    types = [step.get("type") if isinstance(step, dict) else None for step in cfg_list]
    if types[-1] != "PackInputs":
        raise ValueError(f"its test pipeline ({', '.join(map(str, types))}) does not end with PackInputs, so "
                         f"it gives the model no `skeleton` input")
    if not any(t in ("SelectSkeleton", "From2DKeypoints") for t in types[:-1]):
        raise ValueError(f"its test pipeline ({', '.join(map(str, types))}) picks no joints (SelectSkeleton or "
                         f"From2DKeypoints) for the `skeleton` input")
    if cfg_list[-1].get("with_pose", True) and "PoseInput" not in types[:-1]:
        raise ValueError(f"its test pipeline ({', '.join(map(str, types))}) packs a pose input but has no "
                         f"PoseInput to make it")
