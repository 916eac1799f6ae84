"""The learning-rate schedule of the strong skeleton baselines (CTR-GCN, pyskl): a linear warm-up, then a cosine
to zero at the end of the run.

Driven by progress in [0, 1] rather than by epoch numbers, so one schedule serves a fixed number of
iterations and a wall-clock budget (`train.time_budget_min`) alike, and a resumed run continues on the same
curve from its saved iteration count.
"""
from __future__ import annotations

import math


class Schedule:
    """Linear warm-up then cosine, driven by progress in [0, 1] (iterations, or wall-clock if budgeted)."""

    def __init__(self, base_lr: float, warmup_frac: float):
        self.base_lr, self.warmup = base_lr, warmup_frac

    def lr(self, progress: float) -> float:
        warm = min(1.0, (progress + 1e-4) / self.warmup) if self.warmup > 0 else 1.0
        return self.base_lr * warm * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
