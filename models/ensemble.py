"""An ensemble of networks over the same inputs, one model to its users.

    skeleton, pose --> member 1 --> logits_1 --+
                   --> member 2 --> logits_2 --+--> log(mean_k softmax(logits_k))  (N, num_classes)
                   ...                         |
                                   training:  stack (N, K, num_classes): each member learns from its own loss

The field's best skeleton models are ensembles of streams (a joint-centred and a bone-centred network, or
several seeds) whose scores are summed offline, from separate files. Here the members live in one module:
one checkpoint, one `build_from_cfg`, one ONNX graph, and every tool that loads a PG-GCN loads this
unchanged. The output is the log of the members' mean probability, so softmax of it is exactly the mean of
their softmaxes, and the output is a drop-in for logits everywhere (argmax, softmax, cross-entropy).

In training mode forward returns every member's logits, stacked (N, K, C), and the trainer sums one loss per
member: each member then learns exactly as it would alone (same gradients, same learning rate), which keeps
them as different from each other as separately trained models, which is what an ensemble gains from.

Config: the ensemble's own keyword arguments other than `members` are shared by every member, and each
member's dict holds only what differs, so a config's `model` written over the base's PG-GCN reads:

    model = dict(type='Ensemble', members=[dict(streams=('joint', 'velocity', 'bone')),
                                           dict(streams=('bone', 'velocity'))])
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from . import pggcn  # noqa: F401  (registers the default member type)
from .registry import MODELS, build_from_cfg

MAX_MEMBERS = 16


@MODELS.register_module()
class Ensemble(nn.Module):
    def __init__(self, members: Sequence[Mapping[str, Any]], member_type: str = "PGGCN", **shared: Any):
        super().__init__()
        if not isinstance(members, (list, tuple)) or not 2 <= len(members) <= MAX_MEMBERS:
            raise ValueError(f"members must be a list of 2 to {MAX_MEMBERS} member configs, got {members!r:.80}")
        if member_type == type(self).__name__:
            raise ValueError("an ensemble's members cannot be ensembles")
        nets = []
        for i, m in enumerate(members):
            if not isinstance(m, Mapping) or "type" in m:
                raise ValueError(f"members[{i}] must be a dict of the arguments that differ from the shared ones "
                                 f"(no 'type': every member is a {member_type})")
            nets.append(build_from_cfg({**shared, **m, "type": member_type}, MODELS))
        self.members = nn.ModuleList(nets)
        first = nets[0]
        for i, net in enumerate(nets[1:], 1):
            if net.num_classes != first.num_classes or net.layout.name != first.layout.name:
                raise ValueError(f"members[{i}] has {net.num_classes} classes in layout {net.layout.name}, "
                                 f"members[0] {first.num_classes} in {first.layout.name}")
        self.num_classes = first.num_classes
        self.layout = first.layout
        # The pose input is fed when any member reads it; members without a pose stream are given None.
        self.pose_input = next((net.pose_input for net in nets if net.pose_input), None)

    def member_logits(self, skeleton: torch.Tensor, pose: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, T, V, M) [+ pose] -> (N, K, num_classes), one row of logits per member."""
        return torch.stack([net(skeleton, pose if net.pose_input else None) for net in self.members], dim=1)

    def forward(self, skeleton: torch.Tensor, pose: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.member_logits(skeleton, pose)  # (N, K, C)
        if self.training:
            return logits
        # log of the mean probability, computed without leaving log space (no underflow for confident members)
        return torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=1) - math.log(logits.shape[1])
