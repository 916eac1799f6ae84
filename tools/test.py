#!/usr/bin/env python
"""Evaluate a checkpoint on its config's test split: `make eval CONFIG=... [CHECKPOINT=...]`.

Writes metrics.json (top1, top5, mean_class_acc as fractions), per_class.csv, confusion.png and scores.npz
(for tools/ensemble.py) into --work-dir (default: work_dirs/<config name>/eval/).
"""
import argparse
import json
import sys
from pathlib import Path

from pipeline.cli import ArgumentParser, run_cli
from pipeline.engine.evaluation import REPORT_FILES, evaluate
from extract.fileio import refuse_overwriting_inputs
from pipeline.config import add_config_arguments, config_from_args, default_work_dir


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p)
    p.add_argument("--checkpoint", type=Path, help="default: work_dirs/<config name>/best.pth")
    p.add_argument("--work-dir", type=Path, help="where the reports go (default: work_dirs/<config name>/eval)")
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    ckpt = args.checkpoint or default_work_dir(cfg) / "best.pth"
    out = args.work_dir or default_work_dir(cfg) / "eval"
    refuse_overwriting_inputs([out / name for name in REPORT_FILES], [ckpt, args.config, cfg.ann_file])
    metrics = evaluate(cfg, ckpt, out)
    print(json.dumps(metrics))
    print(f"top-1 {metrics['top1']:.2%}, top-5 {metrics['top5']:.2%}, mean class accuracy "
          f"{metrics['mean_class_acc']:.2%}; reports in {out}/")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
