"""PG-GCN: Pose-Guided Graph Convolutional Network (Chen, Jiang, Ko, IEEE Access 2022).

    skeleton (N, 3, T, V, M) --J/V/B features--> [InputBranch x3] --F_s--> PG-AM --+
    pose     (N, 3, T, V, M) --------------------> PoseStream ----F_p------^       |
                                                                  concat branches <-+
                                  --> 2 main-stream ST-GCN blocks --> mean over T, V, persons
                                  --> dropout --> FC --> logits (N, num_classes)

Ablations come from the constructor (so from the config): `pose_input=None` (plain multi-branch GCN),
`fusion='concat'` (no PG-AM: pose features join the branch concatenation instead), any subset of `streams`.
"""
from __future__ import annotations

import torch
from torch import nn

from .layouts import get_layout

from .blocks import STGCNBlock
from .features import STREAMS, skeleton_features
from .graph import Graph
from .pgam import PGAM
from .pose_stream import PoseStream
from .registry import MODELS


class InputBranch(nn.Module):
    """One skeleton input (6 channels): per-joint BatchNorm, then a few ST-GCN blocks (last one halves T)."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], A: torch.Tensor, kernel_size: int,
                 attention: bool, temporal_stride: int):
        super().__init__()
        v = A.shape[-1]
        self.data_bn = nn.BatchNorm1d(in_channels * v)
        blocks, c_in = [], in_channels
        for i, c in enumerate(channels):
            stride = temporal_stride if i == len(channels) - 1 else 1
            blocks.append(STGCNBlock(c_in, c, A, stride=stride, kernel_size=kernel_size,
                                     residual=i > 0, attention=attention))
            c_in = c
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nm, c, t, v = x.shape
        x = self.data_bn(x.permute(0, 1, 3, 2).reshape(nm, c * v, t)).reshape(nm, c, v, t).permute(0, 1, 3, 2)
        return self.blocks(x.contiguous())  # (N*M, C_b, T', V)


@MODELS.register_module()
class PGGCN(nn.Module):
    def __init__(self, num_classes: int = 60, layout: str = "ntu25",
                 streams: tuple[str, ...] = STREAMS, pose_input: str | None = "heatmap", fusion: str = "pgam",
                 branch_channels: tuple[int, ...] = (32, 48), main_channels: tuple[int, ...] = (128, 128),
                 kernel_size: int = 5, attention: bool = False, branch_stride: int = 2, main_stride: int = 2,
                 heatmap_size: int = 12, heatmap_sigma: float = 1.0, dropout: float = 0.25):
        super().__init__()
        if not streams or any(s not in STREAMS for s in streams):
            raise ValueError(f"streams must be a non-empty subset of {STREAMS}, got {streams!r}")
        if fusion not in ("pgam", "concat"):
            raise ValueError(f"fusion must be 'pgam' or 'concat', got {fusion!r}")
        self.layout = get_layout(layout)
        self.streams = tuple(streams)
        self.pose_input = pose_input
        self.fusion = fusion if pose_input else None
        graph = Graph(self.layout)
        A = torch.from_numpy(graph.A)
        self.register_buffer("parents", torch.tensor(self.layout.parents, dtype=torch.long), persistent=False)

        c_b = branch_channels[-1]
        self.branches = nn.ModuleList(
            InputBranch(6, tuple(branch_channels), A, kernel_size, attention, branch_stride) for _ in self.streams)
        self.pose_stream = None
        self.pgam = None
        if pose_input:
            self.pose_stream = PoseStream(c_b, pose_input, branch_stride, heatmap_size, heatmap_sigma)
            if self.fusion == "pgam":
                prior = torch.from_numpy(graph.A_sum)
                self.pgam = nn.ModuleList(PGAM(c_b, prior) for _ in self.streams)
        c_in = c_b * len(self.streams) + (c_b if self.fusion == "concat" else 0)
        main = []
        for i, c in enumerate(main_channels):
            main.append(STGCNBlock(c_in, c, A, stride=main_stride if i == 0 else 1, kernel_size=kernel_size,
                                   attention=attention))
            c_in = c
        self.main_stream = nn.Sequential(*main)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c_in, num_classes)
        self.num_classes = num_classes

    def extract_features(self, skeleton: torch.Tensor, pose: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, T, V, M) [+ pose (N, 3, T, V, M)] -> pooled features (N, C)."""
        n, _, t, v, m = skeleton.shape
        if v != self.layout.num_joints:
            raise ValueError(f"model expects {self.layout.num_joints} joints ({self.layout.name}), input has {v}")
        present = (skeleton != 0).flatten(1, 3).any(dim=1)  # (N, M): persons that exist
        f_p = None
        if self.pose_stream is not None:
            if pose is None:
                raise ValueError("this PG-GCN has a pose stream: pass pose (N, 3, T, V, M)")
            f_p = self.pose_stream(pose)  # (N*M, C_b, T', V)
        feats = []
        for i, x in enumerate(skeleton_features(skeleton, self.layout, self.parents, self.streams)):
            x = x.permute(0, 4, 1, 2, 3).reshape(n * m, 6, t, v)  # (N*M, 6, T, V)
            f_s = self.branches[i](x)
            if self.pgam is not None:
                f_s = self.pgam[i](f_s, f_p)
            feats.append(f_s)
        if self.fusion == "concat":
            feats.append(f_p)
        x = self.main_stream(torch.cat(feats, dim=1))  # (N*M, C, T'', V)
        x = x.mean(dim=(2, 3)).reshape(n, m, -1)  # (N, M, C)
        w = present.to(x.dtype).unsqueeze(-1)
        return (x * w).sum(1) / w.sum(1).clamp_min(1.0)  # mean over present persons

    def forward(self, skeleton: torch.Tensor, pose: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.dropout(self.extract_features(skeleton, pose)))
