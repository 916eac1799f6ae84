"""Joint layouts: the one place that knows how a skeleton is wired.

Everything that depends on which joints exist (the graph, bone vectors, the centre joint, left/right
flips, heatmap joints, estimator-to-skeleton mappings) reads it from a `JointLayout` chosen by name in
the data and the config, so no module hard-codes NTU-25.

Each layout is a tree: `parents[v]` is the joint v hangs from, the root's parent is itself. Bone
vectors are x[v] - x[parents[v]] (zero at the root), and the graph's inward edges are v -> parents[v].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JointLayout:
    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    center: int  # joint used to centre a skeleton (and the root of `parents`)
    flip_pairs: tuple[tuple[int, int], ...]  # (left, right) joints swapped by a horizontal mirror

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.parents) != n:
            raise ValueError(f"layout {self.name}: {len(self.parents)} parents for {n} joints")
        if self.parents[self.center] != self.center:
            raise ValueError(f"layout {self.name}: centre joint {self.center} must be the root")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def edges(self) -> list[tuple[int, int]]:
        """Inward edges (child, parent), the root's self-loop excluded."""
        return [(v, p) for v, p in enumerate(self.parents) if v != p]

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation that swaps left and right joints: x_mirrored[..., v] = x[..., flip_index[v]]."""
        idx = np.arange(self.num_joints)
        for left, right in self.flip_pairs:
            idx[left], idx[right] = right, left
        return idx

    def index(self, joint_name: str) -> int:
        return self.joint_names.index(joint_name)


NTU25 = JointLayout(
    name="ntu25",
    joint_names=(
        "spine_base", "spine_mid", "neck", "head",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
        "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
    ),
    # the Kinect v2 tree rooted at the shoulder centre (spine_shoulder, joint 21 in 1-based numbering)
    parents=(1, 20, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 20, 7, 7, 11, 11),
    center=20,
    flip_pairs=((4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19), (21, 23), (22, 24)),
)

KINECT_V1_20 = JointLayout(
    name="kinect_v1_20",
    joint_names=(
        "hip_center", "spine", "shoulder_center", "head",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
    ),
    parents=(1, 2, 2, 2, 2, 4, 5, 6, 2, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18),
    center=2,
    flip_pairs=((4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19)),
)

COCO17 = JointLayout(
    name="coco17",
    joint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    parents=(0, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    center=0,
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
)

BLAZEPOSE33 = JointLayout(
    name="blazepose33",
    joint_names=(
        "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
        "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
        "left_heel", "right_heel", "left_foot_index", "right_foot_index",
    ),
    parents=(0, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0, 0, 0, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16,
             11, 12, 23, 24, 25, 26, 27, 28, 27, 28),
    center=0,
    flip_pairs=((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18),
                (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32)),
)

LAYOUTS: dict[str, JointLayout] = {lay.name: lay for lay in (NTU25, KINECT_V1_20, COCO17, BLAZEPOSE33)}


# the same body point under another layout's name (Kinect v1 names -> Kinect v2 / NTU names)
_ALIASES = {"hip_center": "spine_base", "spine": "spine_mid", "shoulder_center": "spine_shoulder"}


def joint_map(source: str | JointLayout, target: str | JointLayout) -> np.ndarray:
    """Indices into `source`'s joints that give `target`'s joints (x_target = x_source[..., idx, :]), for
    layouts whose joints the target's all exist in the source (e.g. NTU-25 -> Kinect-v1-20)."""
    src, dst = get_layout(source), get_layout(target)
    idx = []
    for name in dst.joint_names:
        for candidate in (name, _ALIASES.get(name)):
            if candidate in src.joint_names:
                idx.append(src.joint_names.index(candidate))
                break
        else:
            raise ValueError(f"layout {src.name} has no joint for {dst.name}'s {name!r}")
    return np.array(idx)


def get_layout(layout: str | JointLayout) -> JointLayout:
    """Look a layout up by name (a JointLayout passes through)."""
    if isinstance(layout, JointLayout):
        return layout
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise ValueError(f"unknown joint layout {layout!r}; known: {', '.join(sorted(LAYOUTS))}") from None
