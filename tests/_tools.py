"""Run a tool's main(argv) in this process (fast: no interpreter and torch start-up per call)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"
_LOADED: dict[str, object] = {}


def tool(name: str):
    """tools/<name>.py as a module (loaded once)."""
    if name not in _LOADED:
        sys.path.insert(0, str(TOOLS))
        try:
            spec = importlib.util.spec_from_file_location(f"_tool_{name}", TOOLS / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(TOOLS))
        _LOADED[name] = module
    return _LOADED[name]


def run_tool(capsys, name: str, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `python tools/<name>.py argv...`."""
    try:
        code = tool(name).main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
