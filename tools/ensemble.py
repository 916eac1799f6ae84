#!/usr/bin/env python
"""Fuse the score dumps of several streams or models (weighted sum), as the multi-stream baselines report.

  python tools/ensemble.py work_dirs/a/eval/scores.npz work_dirs/b/eval/scores.npz --weights 1 0.6 [--out DIR]

Each scores.npz comes from tools/test.py (names, labels, scores). Samples are matched by name; the fused
scores are evaluated (top1, top5, mean class accuracy) and, with --out, written as a scores.npz + metrics.json.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scores", nargs="+", type=Path)
    p.add_argument("--weights", nargs="+", type=float)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    from pipeline.ensemble import fuse
    try:
        metrics = fuse(a.scores, a.weights, a.out)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
