#!/usr/bin/env python
"""Convert our annotation files for other tools.

  python tools/convert.py --to mmaction2-2d data/ntu60/annotations.pkl data/ntu60/ntu60_mediapipe_2d.pkl
  python tools/convert.py --to store ntu120_3danno.pkl

store: the memory-mapped sample store that training reads (pipeline/data/store.py), written beside the annotation
file (`<name>.store/`) for a pickle from elsewhere; training would build it on first use, this does it ahead
(once, before a multi-GPU run, say). Extraction writes it by itself.

mmaction2-2d: the format mmaction2's and pyskl's 2D skeleton configs read (COCO-17 `keypoint` + `keypoint_score`,
from our extraction's `pose_keypoint` / `pose_score`; see pipeline/datasets/convert.py for the joint mapping).
"""
import argparse
import sys
from pathlib import Path

from extract.fileio import one_line, printable
from pipeline.cli import ArgumentParser, run_cli
from pipeline.datasets.convert import export_mmaction_2d
from pipeline.data.store import open_store, store_path


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--to", choices=["mmaction2-2d", "store"], required=True)
    p.add_argument("src", type=Path, help="an annotation file (ours, or pyskl's / mmaction2's for --to store)")
    p.add_argument("out", type=Path, nargs="?", help="the file to write (mmaction2-2d)")
    a = p.parse_args(argv)
    if a.to == "store":
        if a.out is not None:
            raise ValueError(f"{a.out}: --to store writes the store beside SRC ({store_path(a.src)}); "
                             f"OUT is for --to mmaction2-2d")
        try:
            store = open_store(a.src)
        except OSError as e:  # its message would name the store's temp folder: name the files the user knows
            if isinstance(e, FileNotFoundError) and not a.src.exists():
                raise
            raise ValueError(f"{a.src}: cannot build its sample store {store_path(a.src)} "
                             f"({e.strerror or one_line(e)})") from None
        print(f"{printable(str(store.path))}: {len(store)} samples, {store.index['rows']} person-frames, fields "
              f"{', '.join(store.arrays)}")
        return 0
    if a.out is None:
        raise ValueError("--to mmaction2-2d needs the output file: convert.py --to mmaction2-2d SRC OUT")
    n = export_mmaction_2d(a.src, a.out)
    print(f"wrote {printable(str(a.out))} ({n} records, {a.to})")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
