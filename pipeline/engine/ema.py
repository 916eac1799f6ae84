"""An exponential moving average of a model's weights, the model that is validated and shipped when a config
sets `train.ema_decay`: on NW-UCLA it steadies the last epoch's accuracy, which is the figure that counts here
(no best-epoch picking on the test view)."""
from __future__ import annotations

import copy

import torch


class WeightEMA:
    """An exponential moving average of a model's weights (and BatchNorm statistics).

    The decay ramps up as (1 + n) / (10 + n) until it reaches `decay`, so the first updates do not
    drag the average towards the random initialisation."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, cur in zip(self.model.state_dict().values(), model.state_dict().values()):
            if avg.dtype.is_floating_point:
                avg.lerp_(cur, 1.0 - d)
            else:
                avg.copy_(cur)
