"""The learning-rate schedule: linear warm-up, then a cosine that reaches zero exactly at the end."""
import math

import pytest

from pipeline.engine.schedule import Schedule


def test_warm_up_rises_linearly_then_the_cosine_falls_to_zero():
    s = Schedule(base_lr=0.1, warmup_frac=0.1)
    assert s.lr(0.0) == pytest.approx(0.1 * 1e-4 / 0.1, rel=1e-3)  # not zero: the first step moves
    assert s.lr(0.05) == pytest.approx(0.1 * 0.5 * 0.5 * (1 + math.cos(math.pi * 0.05)), rel=1e-2)
    after = [s.lr(p / 100) for p in range(10, 101)]
    assert all(a >= b for a, b in zip(after, after[1:]))  # never rises after the warm-up
    assert s.lr(1.0) == pytest.approx(0.0, abs=1e-12)
    assert s.lr(1.5) == pytest.approx(0.0, abs=1e-12)  # a budgeted run past its end stays at zero


def test_no_warm_up_starts_at_the_base_rate():
    s = Schedule(base_lr=0.2, warmup_frac=0.0)
    assert s.lr(0.0) == pytest.approx(0.2)
    assert s.lr(0.5) == pytest.approx(0.1)


def test_a_resumed_run_continues_on_the_same_curve():
    a, b = Schedule(0.1, 0.2), Schedule(0.1, 0.2)
    assert [a.lr(p / 7) for p in range(8)] == [b.lr(p / 7) for p in range(8)]
