"""Joint, Velocity and Bone input features from a 3D skeleton (EfficientGCN's 6-channel inputs).

- joint:    [x, x - x_centre]                         position, and position relative to the centre joint
- velocity: [x(t+1) - x(t), x(t+2) - x(t)]            fast and slow motion (zero past the last frame)
- bone:     [x - x_parent, acos((x - x_parent)_c / |x - x_parent|)]   bone vector and its angle to each axis

All are computed on the whole (N, 3, T, V, M) tensor at once: no loops over persons, frames or joints.
"""
from __future__ import annotations

import torch

from .layouts import JointLayout

STREAMS = ("joint", "velocity", "bone")


def joint_features(x: torch.Tensor, layout: JointLayout) -> torch.Tensor:
    centre = x[:, :, :, layout.center:layout.center + 1]
    return torch.cat([x, x - centre], dim=1)  # (N, 6, T, V, M)


def velocity_features(x: torch.Tensor) -> torch.Tensor:
    v1 = torch.zeros_like(x)
    v2 = torch.zeros_like(x)
    v1[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    v2[:, :, :-2] = x[:, :, 2:] - x[:, :, :-2]
    return torch.cat([v1, v2], dim=1)


def bone_features(x: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
    bone = x - x[:, :, :, parents]
    length = bone.norm(dim=1, keepdim=True)
    cos = torch.where(length > 1e-6, bone / length.clamp_min(1e-6), torch.zeros_like(bone))
    angle = torch.where(length > 1e-6, torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6)), torch.zeros_like(bone))
    return torch.cat([bone, angle], dim=1)


def skeleton_features(x: torch.Tensor, layout: JointLayout, parents: torch.Tensor,
                      streams: tuple[str, ...]) -> list[torch.Tensor]:
    """x (N, 3, T, V, M) -> one (N, 6, T, V, M) tensor per requested stream, in `streams` order."""
    out = []
    for s in streams:
        if s == "joint":
            out.append(joint_features(x, layout))
        elif s == "velocity":
            out.append(velocity_features(x))
        elif s == "bone":
            out.append(bone_features(x, parents))
        else:
            raise ValueError(f"unknown stream {s!r}; expected a subset of {STREAMS}")
    return out
