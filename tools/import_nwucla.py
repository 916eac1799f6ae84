#!/usr/bin/env python
"""Write data/nwucla/annotations.pkl from the shipped NW-UCLA archive (training does this on demand too)."""
import sys
from pathlib import Path

from pipeline.cli import ArgumentParser, run_cli
from pipeline.datasets.nwucla import ARCHIVE, DEFAULT_ANN, import_nwucla


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__)
    p.add_argument("--archive", type=Path, default=ARCHIVE)
    p.add_argument("--out", type=Path, default=DEFAULT_ANN)
    a = p.parse_args(argv)
    print(f"wrote {import_nwucla(a.archive, a.out)}")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
