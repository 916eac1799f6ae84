#!/usr/bin/env python
"""Convert our annotation files for other tools.

  python tools/convert.py --to mmaction2-2d data/ntu60/annotations.pkl data/ntu60/ntu60_mediapipe_2d.pkl

mmaction2-2d: the format mmaction2's and pyskl's 2D skeleton configs read (COCO-17 `keypoint` + `keypoint_score`,
from our extraction's `pose_keypoint` / `pose_score`; see pipeline/convert.py for the joint mapping).
"""
import _toolpath  # noqa: F401  (first: binds `extract` to the package, not tools/extract.py)
import argparse
import sys
from pathlib import Path

from pipeline.cli import ArgumentParser, run_cli
from pipeline.convert import export_mmaction_2d


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--to", choices=["mmaction2-2d"], required=True)
    p.add_argument("src", type=Path, help="our annotations.pkl")
    p.add_argument("out", type=Path, help="the file to write")
    a = p.parse_args(argv)
    n = export_mmaction_2d(a.src, a.out)
    print(f"wrote {a.out} ({n} records, {a.to})")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
