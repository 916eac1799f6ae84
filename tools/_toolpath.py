"""Imported first by every tool, so that `tools/extract.py` cannot shadow the `extract` package.

Python puts a script's own folder first on sys.path, where `extract` would resolve to tools/extract.py.
This binds the name to the installed package once (`make setup` installs the project; no path is added)
and leaves sys.path as it was, so spawned child processes, which re-run the tool's imports, still find
this module.
"""
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_saved = sys.path[:]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
try:
    import extract  # noqa: F401,E402  (the package: cached in sys.modules from here on)
finally:
    sys.path[:] = _saved
