"""The weight average: a ramped decay, BatchNorm statistics carried, the trained model left alone."""
import pytest
import torch

from pipeline.engine.ema import WeightEMA


def _model(value: float) -> torch.nn.Module:
    m = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), torch.nn.BatchNorm1d(1))
    with torch.no_grad():
        m[0].weight.fill_(value)
    return m


def test_the_first_updates_do_not_drag_towards_the_initial_weights():
    model = _model(0.0)
    ema = WeightEMA(model, decay=0.999)
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    ema.update(model)
    d = min(0.999, 2 / 11)  # (1 + n) / (10 + n) after one update
    assert ema.model[0].weight.item() == pytest.approx(d * 0.0 + (1 - d) * 1.0)
    for _ in range(5000):
        ema.update(model)
    assert ema.model[0].weight.item() == pytest.approx(1.0, abs=1e-6)


def test_integer_buffers_are_copied_and_the_average_needs_no_gradients():
    model = _model(0.5)
    model.train()
    model(torch.randn(4, 1))  # BatchNorm counts a batch
    ema = WeightEMA(model, decay=0.9)
    model(torch.randn(4, 1))
    ema.update(model)
    assert ema.model[1].num_batches_tracked.item() == model[1].num_batches_tracked.item() == 2
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert all(p.requires_grad for p in model.parameters()) and not ema.model.training
