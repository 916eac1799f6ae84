"""The pose stream: 2D keypoints from the RGB frames -> C features per joint per frame.

Input is (N, 3, T, V, M): x, y in the unit person box and the estimator's score. With `kind='heatmap'`
(the paper's design) each joint is drawn as a Gaussian heatmap (models.heatmaps, the renderer shared with
the data pipeline and video inference) and a small CNN shared by all joints encodes every map into C
features; `kind='coords'` feeds (x, y, score) straight to a 1x1 convolution (a cheaper alternative for speed
comparisons). Either way the output is (N*M, C, T', V), aligned joint by joint with the skeleton branches.
"""
from __future__ import annotations

import torch
from torch import nn

from .heatmaps import render_heatmaps


class HeatmapEncoder(nn.Module):
    """A shared CNN over one joint's (H, W) heatmap -> `out_channels` features.

    It runs on N*M*T*V tiny maps per batch, so it is kept lean: two strided 3x3 convolutions without
    BatchNorm (normalising ~10^4 maps of 6x6 cost more than the convolutions: 206 vs 66 ms per NW-UCLA batch,
    forward + backward, 16x16 with BN vs 12x12 without); the stream's output BatchNorm normalises once.
    Weights and maps are channels-last: on CPU that halves the time of these one- and eight-channel
    convolutions (forward + backward over one NW-UCLA batch of 8,320 maps: 68 -> 35 ms), with the same result.
    """

    def __init__(self, out_channels: int, hidden: int = 8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, hidden, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 2 * hidden, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * hidden, out_channels),
        ).to(memory_format=torch.channels_last)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.net(maps.contiguous(memory_format=torch.channels_last))  # (B, 1, H, W) -> (B, C)


class PoseStream(nn.Module):
    def __init__(self, out_channels: int, kind: str = "heatmap", temporal_stride: int = 1,
                 heatmap_size: int = 12, sigma: float = 1.0, hidden: int = 8):
        super().__init__()
        if kind not in ("heatmap", "coords"):
            raise ValueError(f"pose_input must be 'heatmap', 'coords' or None, got {kind!r}")
        self.kind = kind
        self.stride = temporal_stride
        self.size = (heatmap_size, heatmap_size)
        self.sigma = sigma
        if kind == "heatmap":
            self.encoder = HeatmapEncoder(out_channels, hidden)
        else:
            self.encoder = nn.Conv2d(3, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = out_channels

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        n, _, t, v, m = pose.shape
        p = pose[:, :, ::self.stride].permute(0, 4, 1, 2, 3)  # (N, M, 3, T', V)
        tt = p.shape[3]
        p = p.reshape(n * m, 3, tt, v)
        if self.kind == "coords":
            return self.relu(self.bn(self.encoder(p)))
        pts = p.permute(0, 2, 3, 1)  # (N*M, T', V, 3)
        maps = render_heatmaps(pts[..., :2], pts[..., 2], self.size, self.sigma)  # (N*M, T', V, H, W)
        feats = self.encoder(maps.reshape(-1, 1, *self.size))  # (N*M*T'*V, C)
        feats = feats.reshape(n * m, tt, v, self.out_channels).permute(0, 3, 1, 2)  # (N*M, C, T', V)
        return self.relu(self.bn(feats.contiguous()))
