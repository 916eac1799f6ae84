#!/usr/bin/env python
"""Train PG-GCN from a config: `make train CONFIG=configs/pggcn_ntu120_xsub.py`.

Writes work_dirs/<config name>/ (or --work-dir): best.pth and last.pth (plain state dicts + JSON meta),
log.json, TensorBoard scalars. Started again after an interruption, it resumes from last.pth.
Multi-GPU / multi-node: `make train NPROC=8` runs this under torchrun with --launcher pytorch (DDP).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--work-dir", type=Path)
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none")
    p.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config values, e.g. train.epochs=10 train.time_budget_min=5")
    args = p.parse_args()
    from pipeline.training import load_config, train
    try:
        options = {}
        for item in args.cfg_options:
            key, _, value = item.partition("=")
            import ast
            try:
                options[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                options[key] = value
        cfg = load_config(args.config, options)
        result = train(cfg, args.work_dir, args.launcher)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"done: best test top-1 {result['best_top1']:.2%} at epoch {result['best_epoch']} "
          f"({result['epochs']} epochs, {result['elapsed_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
