"""Make mmpose 1.3.2 importable on mmcv-lite (no compiled ops) and without torchvision.

mmpose imports `mmcv.ops` and `torchvision` at module load (for detectors and transformer heads), but the
top-down heatmap/SimCC inference this project runs never calls them. Full mmcv has no wheel for our torch
and torchvision's PyPI wheels do not load next to the CPU torch (see docs/setup.md), so those two
packages are replaced by placeholder modules whose classes and functions raise a clear error if a model
really needs them. Nothing is patched when the real packages import.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types


class _NeedsCompiledOps:
    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__module__}.{type(self).__name__} needs compiled mmcv ops or torchvision, "
                           "which this install does not have; use a top-down pose model (RTMPose, HRNet)")


class _PlaceholderFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of the given packages (and their submodules) with placeholder modules."""

    def __init__(self, packages: list[str]):
        self.packages = packages

    def find_spec(self, name, path=None, target=None):
        if any(name == p or name.startswith(p + ".") for p in self.packages):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = _placeholder_attr(spec.name)
        return module

    def exec_module(self, module) -> None:
        pass


def _placeholder_attr(module_name: str):
    def __getattr__(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr[:1].isupper():
            return type(attr, (_NeedsCompiledOps,), {"__module__": module_name})

        def missing(*args, **kwargs):
            raise RuntimeError(f"{module_name}.{attr} needs compiled mmcv ops or torchvision, "
                               "which this install does not have")
        return missing
    return __getattr__


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception:  # noqa: BLE001 - a half-installed package raises anything from OSError to RuntimeError
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        return False


def install_placeholders() -> list[str]:
    """Placeholder `mmcv.ops` / `torchvision` where the real ones do not import; returns what was replaced."""
    if any(isinstance(f, _PlaceholderFinder) for f in sys.meta_path):
        return next(f for f in sys.meta_path if isinstance(f, _PlaceholderFinder)).packages
    missing = [name for name in ("mmcv.ops", "torchvision") if not _importable(name)]
    if missing:
        sys.meta_path.insert(0, _PlaceholderFinder(missing))
    return missing
