#!/usr/bin/env python
"""Train PG-GCN from a config: `make train CONFIG=configs/pggcn_ntu120_xsub.py`.

Writes work_dirs/<config name>/ (or --work-dir): best.pth and last.pth (plain state dicts + JSON meta),
log.json, TensorBoard scalars. Started again after an interruption, it resumes from last.pth.
Multi-GPU / multi-node: `make train NPROC=8` runs this under torchrun with --launcher pytorch (DDP).
"""
import argparse
import sys
from pathlib import Path

from pipeline.cli import ArgumentParser, run_cli
from pipeline.config import add_config_arguments, config_from_args
from pipeline.engine.trainer import train


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p)
    p.add_argument("--work-dir", type=Path)
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none")
    p.add_argument("--load-from", type=Path, help="start from this checkpoint's weights (all but the classifier; "
                   "its architecture and joint layout are taken over)")
    p.add_argument("--restart", action="store_true", help="the work dir holds another run (or this one, "
                   "finished): move it aside to <work dir>.old-<time> (never deleted) and train afresh")
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    result = train(cfg, args.work_dir, args.launcher, load_from=args.load_from, restart=args.restart,
                   config_path=Path(args.config))
    print(f"done: best test top-1 {result['best_top1']:.2%} at epoch {result['best_epoch']} "
          f"({result['epochs']} epochs, {result['elapsed_s'] / 60:.1f} min)")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
