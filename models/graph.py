"""The skeleton graph: spatial-partition adjacency (self, inward, outward) for any joint layout.

ST-GCN's "spatial" partitioning: each joint's neighbourhood is split into itself, the neighbours closer to
the centre (inward) and those farther away (outward). Rows are targets and columns sources (y = A x), and
each partition is normalised by the target's in-degree (every row sums to 1), so a joint receives the
average of its neighbours' features: ST-GCN's / pyskl's `normalize_digraph` (A D^-1 applied as x A, with
their A indexed [source, target]) written in this row-target form.
"""
from __future__ import annotations

import numpy as np

from .layouts import JointLayout, get_layout


def normalize_rows(a: np.ndarray) -> np.ndarray:
    """Divide each target's row by its in-degree (rows without an edge stay zero)."""
    deg = a.sum(axis=1)
    inv = np.where(deg > 0, 1.0 / np.maximum(deg, 1e-12), 0.0)
    return a * inv[:, None]


class Graph:
    """A (3, V, V) float32 adjacency of a joint layout: [identity, inward, outward]."""

    def __init__(self, layout: str | JointLayout = "ntu25"):
        self.layout = get_layout(layout)
        v = self.layout.num_joints
        inward = np.zeros((v, v), np.float32)
        for child, parent in self.layout.edges:
            inward[parent, child] = 1.0  # message from child to parent: column = source, row = target
        outward = inward.T.copy()
        self.A = np.stack([np.eye(v, dtype=np.float32), normalize_rows(inward), normalize_rows(outward)])

    @property
    def num_joints(self) -> int:
        return self.layout.num_joints

    @property
    def A_sum(self) -> np.ndarray:
        """All partitions in one (V, V) matrix, row-normalised: a single-hop smoothing operator."""
        a = (self.A > 0).any(axis=0).astype(np.float32)
        return a / a.sum(axis=1, keepdims=True)
