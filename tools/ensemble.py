#!/usr/bin/env python
"""Fuse the score dumps of several streams or models (weighted sum), as the multi-stream baselines report.

  python tools/ensemble.py work_dirs/a/eval/scores.npz work_dirs/b/eval/scores.npz --weights 1 0.6 [--out DIR]

Each scores.npz comes from tools/test.py (names, labels, scores). Samples are matched by name; the fused
scores are evaluated (top1, top5, mean class accuracy) and, with --out, written as a scores.npz + metrics.json
(never over one of the inputs).
"""
import json
import sys
from pathlib import Path

from pipeline.cli import ArgumentParser, run_cli
from pipeline.engine.ensemble import fuse


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("scores", nargs="+", type=Path)
    p.add_argument("--weights", nargs="+", type=float)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    print(json.dumps(fuse(a.scores, a.weights, a.out)))
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
