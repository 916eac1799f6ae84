#!/usr/bin/env python
"""Join separately trained PG-GCN checkpoints into one ensemble model: one .pth for every tool.

  python tools/make_ensemble.py work_dirs/a/last.pth work_dirs/b/last.pth --out ensemble.pth [--cfg-options video_window=52]

The members must read the same data (class names, joint layout, test pipeline). The result is a
checkpoint like any other: `make eval CHECKPOINT=ensemble.pth`, `tools/infer_video.py --checkpoint
ensemble.pth`, `tools/export_onnx.py` (one graph) load it unchanged; its output is the log of the members'
mean probability. Its metadata lists the members' files (with SHA-256), epochs and metrics, and the
--cfg-options given (values of the joined config that leave the members' model and pipelines alone, such
as video inference's window). It never writes over one of its inputs.
"""
import argparse
import sys
from pathlib import Path

from pipeline.cli import ArgumentParser, run_cli
from pipeline.config import parse_cfg_options
from pipeline.engine.ensemble import join_checkpoints


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                   help="values of the joined config (not the model or pipelines), e.g. video_window=52")
    a = p.parse_args(argv)
    meta = join_checkpoints(a.checkpoints, a.out, parse_cfg_options(a.cfg_options))
    print(f"{a.out}: an ensemble of {len(meta['ensemble_of'])} members")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
