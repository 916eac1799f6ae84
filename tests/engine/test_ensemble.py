"""Score fusion: weighted sums matched by sample name, clear errors."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.engine.ensemble import fuse

ROOT = Path(__file__).resolve().parents[2]


def _dump(path, names, labels, scores):
    np.savez(path, names=np.array(names), labels=np.array(labels), scores=np.array(scores, np.float32))


def test_fusion_matches_names_and_weights(tmp_path):
    # stream a is right on sample x, stream b on sample y; b is stored in another order
    _dump(tmp_path / "a.npz", ["x", "y"], [0, 1], [[0.9, 0.1], [0.8, 0.2]])
    _dump(tmp_path / "b.npz", ["y", "x"], [1, 0], [[0.1, 0.9], [0.6, 0.4]])
    assert fuse([tmp_path / "a.npz"])["top1"] == 0.5
    assert fuse([tmp_path / "a.npz", tmp_path / "b.npz"], [1, 1], tmp_path / "out")["top1"] == 1.0
    assert fuse([tmp_path / "a.npz", tmp_path / "b.npz"], [1, 0.1])["top1"] == 0.5
    assert (tmp_path / "out/metrics.json").exists()
    _dump(tmp_path / "c.npz", ["x", "z"], [0, 1], [[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="c.npz: covers other samples"):
        fuse([tmp_path / "a.npz", tmp_path / "c.npz"])
    proc = subprocess.run([sys.executable, "tools/ensemble.py", str(tmp_path / "nope.npz")], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "nope.npz: score dump not found" in proc.stderr
