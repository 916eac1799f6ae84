"""PG-AM: the pose-guided attention module (Chen, Jiang, Ko 2022), fusing pose into a skeleton branch early.

For skeleton features F_s and pose features F_p, both (C, T, V) per person:
    A_vanilla = softmax_rows( reshape(F_s)[V x TC] . reshape(F_p)[TC x V] / sqrt(TC) )    (V x V)
    A_dynamic = A_vanilla (elementwise) (M + M')
    out       = F_s + BN(W . (F_p aggregated over joints with A_dynamic))
M is a learnable graph initialised from the skeleton's normalised adjacency (which joints usually inform
each other); M' is a learnable, zero-initialised free offset (the "trainable graph"). The 1/sqrt(TC)
scaling and the row softmax keep A_vanilla bounded whatever the clip length and width (the paper leaves the
normalisation open); W is a 1x1 convolution.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class PGAM(nn.Module):
    def __init__(self, channels: int, graph_prior: torch.Tensor):
        super().__init__()
        self.M = nn.Parameter(graph_prior.clone().float())  # (V, V)
        self.M_prime = nn.Parameter(torch.zeros_like(self.M))
        self.proj = nn.Conv2d(channels, channels, 1)
        self.bn = nn.BatchNorm2d(channels)

    def attention(self, f_s: torch.Tensor, f_p: torch.Tensor) -> torch.Tensor:
        """A_dynamic (N, V, V) from F_s, F_p (N, C, T, V)."""
        n, c, t, v = f_s.shape
        s = f_s.reshape(n, c * t, v)
        p = f_p.reshape(n, c * t, v)
        a_vanilla = torch.softmax(torch.bmm(s.transpose(1, 2), p) / math.sqrt(c * t), dim=-1)  # (N, V, V)
        return a_vanilla * (self.M + self.M_prime)

    def forward(self, f_s: torch.Tensor, f_p: torch.Tensor) -> torch.Tensor:
        n, c, t, v = f_p.shape
        a = self.attention(f_s, f_p)
        # aggregated[n, :, :, v] = sum_w A[n, v, w] F_p[n, :, :, w]
        agg = torch.bmm(f_p.reshape(n, c * t, v), a.transpose(1, 2)).reshape(n, c, t, v)
        return f_s + self.bn(self.proj(agg))
