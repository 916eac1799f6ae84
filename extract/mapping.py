"""Estimator joints -> skeleton joints, one weight matrix per (source, target) pair.

BlazePose's 33 landmarks and COCO's 17 keypoints do not match the Kinect layouts (NTU-25, Kinect v1 20),
so 2D and 3D could not be fused joint by joint. Each target joint here is a weighted mean of source
landmarks (a row of a (V_target, V_source) matrix), so mapping a whole clip is one matmul; its score is
the lowest score among the landmarks it is made of. Target joints a source cannot supply (COCO has no
hands, feet or spine) get the nearest available position and score 0, so the model knows they are absent.

BlazePose -> NTU-25 (Kinect v2):
| NTU joint | from BlazePose |
|---|---|
| spine_base | mid-hip (left_hip + right_hip) / 2 |
| spine_mid | halfway between mid-hip and mid-shoulder |
| neck | 0.7 mid-shoulder + 0.3 mid-mouth |
| head | mid-ear (left_ear + right_ear) / 2 |
| shoulder / elbow / wrist | the same joint |
| hand | 0.5 wrist + 0.25 index + 0.25 pinky (palm centre) |
| hip / knee / ankle | the same joint |
| foot | foot_index |
| spine_shoulder | mid-shoulder |
| hand_tip / thumb | index / thumb |

BlazePose -> Kinect v1 20: hip_center = mid-hip, spine = 0.7 mid-hip + 0.3 mid-shoulder,
shoulder_center = mid-shoulder, head = mid-ear, limbs as above.

Mirrored images (NTU RGB): the estimator's LEFT landmarks are the performer's RIGHT joints, so with
`mirrored=True` the source's left/right landmarks are swapped before mapping. World coordinates from a
mirrored image also need x negated; see `world_to_kinect`.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from models.layouts import get_layout

# target joint name -> {source landmark name: weight}; shared recipes for both Kinect layouts
_MID_HIP = {"left_hip": 0.5, "right_hip": 0.5}
_MID_SH = {"left_shoulder": 0.5, "right_shoulder": 0.5}


def _mix(*parts: tuple[dict, float]) -> dict:
    out: dict[str, float] = {}
    for d, w in parts:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + v * w
    return out


def _limbs(hand: dict[str, dict], foot: dict[str, str]) -> dict:
    rec = {}
    for side in ("left", "right"):
        for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
            rec[f"{side}_{j}"] = {f"{side}_{j}": 1.0}
        rec[f"{side}_hand"] = hand[side]
        rec[f"{side}_foot"] = {foot[side]: 1.0}
    return rec


_BLAZE_HAND = {s: {f"{s}_wrist": 0.5, f"{s}_index": 0.25, f"{s}_pinky": 0.25} for s in ("left", "right")}
_BLAZE_FOOT = {s: f"{s}_foot_index" for s in ("left", "right")}
_BLAZE_HEAD = {"left_ear": 0.5, "right_ear": 0.5}
_BLAZE_MOUTH = {"mouth_left": 0.5, "mouth_right": 0.5}

RECIPES: dict[tuple[str, str], dict[str, dict[str, float]]] = {
    ("blazepose33", "ntu25"): {
        "spine_base": _MID_HIP,
        "spine_mid": _mix((_MID_HIP, 0.5), (_MID_SH, 0.5)),
        "neck": _mix((_MID_SH, 0.7), (_BLAZE_MOUTH, 0.3)),
        "head": _BLAZE_HEAD,
        "spine_shoulder": _MID_SH,
        "left_hand_tip": {"left_index": 1.0}, "left_thumb": {"left_thumb": 1.0},
        "right_hand_tip": {"right_index": 1.0}, "right_thumb": {"right_thumb": 1.0},
        **_limbs(_BLAZE_HAND, _BLAZE_FOOT),
    },
    ("blazepose33", "kinect_v1_20"): {
        "hip_center": _MID_HIP,
        "spine": _mix((_MID_HIP, 0.7), (_MID_SH, 0.3)),
        "shoulder_center": _MID_SH,
        "head": _BLAZE_HEAD,
        **_limbs(_BLAZE_HAND, _BLAZE_FOOT),
    },
}
# COCO-17: no hands, feet, thumbs or tips; those reuse the nearest joint with score 0 (see _ABSENT).
_COCO_HAND = {s: {f"{s}_wrist": 1.0} for s in ("left", "right")}
_COCO_FOOT = {s: f"{s}_ankle" for s in ("left", "right")}
_COCO_HEAD = {"left_ear": 0.5, "right_ear": 0.5}
RECIPES[("coco17", "ntu25")] = {
    "spine_base": _MID_HIP, "spine_mid": _mix((_MID_HIP, 0.5), (_MID_SH, 0.5)),
    "neck": _mix((_MID_SH, 0.7), ({"nose": 1.0}, 0.3)), "head": _COCO_HEAD, "spine_shoulder": _MID_SH,
    "left_hand_tip": {"left_wrist": 1.0}, "left_thumb": {"left_wrist": 1.0},
    "right_hand_tip": {"right_wrist": 1.0}, "right_thumb": {"right_wrist": 1.0},
    **_limbs(_COCO_HAND, _COCO_FOOT),
}
RECIPES[("coco17", "kinect_v1_20")] = {
    "hip_center": _MID_HIP, "spine": _mix((_MID_HIP, 0.7), (_MID_SH, 0.3)), "shoulder_center": _MID_SH,
    "head": _COCO_HEAD, **_limbs(_COCO_HAND, _COCO_FOOT),
}
_ABSENT = {"coco17": {"left_hand", "right_hand", "left_foot", "right_foot", "left_hand_tip", "left_thumb",
                      "right_hand_tip", "right_thumb"}}


@lru_cache(maxsize=None)
def mapping_matrix(source: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """(V_target, V_source) weights (rows sum to 1) and a (V_target,) mask of joints the source supplies."""
    try:
        recipe = RECIPES[(source, target)]
    except KeyError:
        raise ValueError(f"no joint mapping from {source} to {target}; known: "
                         f"{', '.join(f'{s}->{t}' for s, t in RECIPES)}") from None
    src, tgt = get_layout(source), get_layout(target)
    w = np.zeros((tgt.num_joints, src.num_joints), np.float32)
    for j, name in enumerate(tgt.joint_names):
        for s, weight in recipe[name].items():
            w[j, src.index(s)] += weight
    supplied = np.array([n not in _ABSENT.get(source, ()) for n in tgt.joint_names])
    return w, supplied


def map_keypoints(points: np.ndarray, scores: np.ndarray, source: str = "blazepose33", target: str = "ntu25",
                  mirrored: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """points (..., V_src, D), scores (..., V_src) -> (..., V_tgt, D), (..., V_tgt), performer's own sides."""
    points = np.asarray(points, np.float32)
    scores = np.asarray(scores, np.float32)
    if mirrored:
        flip = get_layout(source).flip_index
        points, scores = points[..., flip, :], scores[..., flip]
    w, supplied = mapping_matrix(source, target)
    out = np.einsum("ts,...sd->...td", w, points)
    used = np.where(w > 0, 0.0, np.inf).astype(np.float32)  # (V_tgt, V_src)
    out_scores = (scores[..., None, :] + used).min(axis=-1) * supplied
    return out.astype(np.float32), out_scores.astype(np.float32)


def world_to_kinect(world: np.ndarray, mirrored: bool = False) -> np.ndarray:
    """MediaPipe world axes (x right, y down, z away) -> Kinect camera axes (x left, y up, z away).

    On a mirrored image the estimator's x already runs the other way, so only y flips.
    """
    sign = np.array([1.0 if mirrored else -1.0, -1.0, 1.0], np.float32)
    return np.asarray(world, np.float32) * sign
