#!/usr/bin/env python
"""Write data/nwucla/annotations.pkl from the shipped NW-UCLA archive (training does this on demand too)."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.nwucla import ARCHIVE, DEFAULT_ANN, import_nwucla  # noqa: E402

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--archive", type=Path, default=ARCHIVE)
p.add_argument("--out", type=Path, default=DEFAULT_ANN)
a = p.parse_args()
try:
    print(f"wrote {import_nwucla(a.archive, a.out)}")
except (FileNotFoundError, ValueError) as e:
    sys.exit(print(f"error: {e}", file=sys.stderr) or 2)
