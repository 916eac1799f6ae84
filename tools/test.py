#!/usr/bin/env python
"""Evaluate a checkpoint on its config's test split: `make eval CONFIG=... [CHECKPOINT=...]`.

Writes metrics.json (top1, top5, mean_class_acc as fractions), per_class.csv, confusion.png and scores.npz
(for tools/ensemble.py) into --work-dir (default: work_dirs/<config name>/eval/).
"""
import _toolpath  # noqa: F401  (first: binds `extract` to the package, not tools/extract.py)
import argparse
import json
import sys
from pathlib import Path

from pipeline.cli import ArgumentParser, run_cli
from pipeline.evaluation import REPORT_FILES, evaluate
from extract.fileio import refuse_overwriting_inputs
from pipeline.config import default_work_dir, load_config, parse_cfg_options


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--checkpoint", type=Path, help="default: work_dirs/<config name>/best.pth")
    p.add_argument("--work-dir", type=Path, help="where the reports go (default: work_dirs/<config name>/eval)")
    p.add_argument("--ann-file", type=Path, help="annotation file to use instead of the config's ann_file")
    p.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config values, e.g. ann_file=data/my/annotations.pkl")
    args = p.parse_args(argv)
    options = parse_cfg_options(args.cfg_options)
    if args.ann_file is not None:
        options["ann_file"] = str(args.ann_file)
    cfg = load_config(args.config, options)
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
