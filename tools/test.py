#!/usr/bin/env python
"""Evaluate a checkpoint on its config's test split: `make eval CONFIG=... [CHECKPOINT=...]`.

Writes metrics.json (top1, top5, mean_class_acc as fractions), per_class.csv, confusion.png and scores.npz
(for tools/ensemble.py) into --work-dir (default: work_dirs/<config name>/eval/).
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--checkpoint", type=Path, help="default: work_dirs/<config name>/best.pth")
    p.add_argument("--work-dir", type=Path)
    args = p.parse_args()
    from pipeline.training import default_work_dir, evaluate, load_config
    try:
        cfg = load_config(args.config)
        ckpt = args.checkpoint or default_work_dir(cfg) / "best.pth"
        out = args.work_dir or default_work_dir(cfg) / "eval"
        metrics = evaluate(cfg, ckpt, out)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(metrics))
    print(f"top-1 {metrics['top1']:.2%}, top-5 {metrics['top5']:.2%}, mean class accuracy "
          f"{metrics['mean_class_acc']:.2%}; reports in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
