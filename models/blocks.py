"""Spatial-temporal graph convolution blocks (the ST-GCN / EfficientGCN family), kept small and composable.

Tensors inside the network are (N*M, C, T, V): persons are folded into the batch, so every block treats
each person independently.
"""
from __future__ import annotations

import torch
from torch import nn


class SpatialGraphConv(nn.Module):
    """Graph convolution over joints: sum_k W_k (X (A_k + B_k)), with a learnable offset B_k per partition.

    The offset (initialised at zero) is the learnable edge importance: it can strengthen, weaken or add
    edges. X is aggregated over the graph first and the channels mixed after (one 1x1 convolution over
    all K partitions).
    """

    def __init__(self, in_channels: int, out_channels: int, A: torch.Tensor, adaptive: bool = True):
        super().__init__()
        self.register_buffer("A", A.clone().float())  # (K, V, V)
        self.offset = nn.Parameter(torch.zeros_like(self.A)) if adaptive else None
        k = A.shape[0]
        self.conv = nn.Conv2d(in_channels * k, out_channels, kernel_size=1)
        self.k = k

    def adjacency(self) -> torch.Tensor:
        return self.A + self.offset if self.offset is not None else self.A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x (N, C, T, V) -> (N, K*C, T, V): one aggregation per partition, then mix channels
        n, c, t, v = x.shape
        a = self.adjacency()  # (K, V, W): row = target joint, column = source joint
        y = torch.matmul(x.reshape(n, 1, c * t, v), a.transpose(1, 2).unsqueeze(0))  # (N, K, C*T, V)
        return self.conv(y.reshape(n, self.k * c, t, v))


class TemporalConv(nn.Module):
    """Convolution along time only (one kernel per channel pair), with BatchNorm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 1):
        super().__init__()
        pad = (kernel_size - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, (kernel_size, 1), (stride, 1), (pad, 0))
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class STJointAttention(nn.Module):
    """EfficientGCN's spatial-temporal joint attention: gates each frame and each joint from pooled context."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        inner = max(channels // reduction, 8)
        self.fcn = nn.Sequential(nn.Conv2d(channels, inner, 1), nn.BatchNorm2d(inner), nn.Hardswish())
        self.conv_t = nn.Conv2d(inner, channels, 1)
        self.conv_v = nn.Conv2d(inner, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        pooled = torch.cat([x.mean(3, keepdim=True), x.mean(2, keepdim=True).transpose(2, 3)], dim=2)
        h = self.fcn(pooled)  # (N, inner, T + V, 1)
        h_t, h_v = torch.split(h, [t, v], dim=2)
        gate = self.conv_t(h_t).sigmoid() * self.conv_v(h_v.transpose(2, 3)).sigmoid()
        return x * gate


class STGCNBlock(nn.Module):
    """Graph conv -> BN -> ReLU -> temporal conv -> BN, plus a residual, then ReLU (optionally attention)."""

    def __init__(self, in_channels: int, out_channels: int, A: torch.Tensor, stride: int = 1,
                 kernel_size: int = 5, residual: bool = True, attention: bool = False, adaptive: bool = True):
        super().__init__()
        self.gcn = SpatialGraphConv(in_channels, out_channels, A, adaptive=adaptive)
        self.gcn_bn = nn.BatchNorm2d(out_channels)
        self.tcn = TemporalConv(out_channels, out_channels, kernel_size, stride)
        self.attention = STJointAttention(out_channels) if attention else nn.Identity()
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)),
                                          nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.relu(self.gcn_bn(self.gcn(x))))
        if self.residual is not None:
            y = y + self.residual(x)
        return self.attention(self.relu(y))
