"""The project's own registries, and the only way a `type` string from a file becomes an object.

`MODELS` holds the networks (models/pggcn.py registers PGGCN), `TRANSFORMS` the data transforms
(pipeline/data/transforms.py registers them); both live here, in the lowest layer, so that every registry
of the project is in one module and built by the one `build_from_cfg` below.

mmengine's `Registry.build` falls back to importing any dotted name (`type='subprocess.run'` runs a
command), and it searches parent and sibling scopes, so a config dict read from a checkpoint or an
annotation file could name code outside this project. `build_from_cfg` looks the name up in one
registry's own table only (the `pggcn` scope: mmpose or mmaction2 in the same process cannot clash),
refuses anything else in one line, and never imports.
"""
from __future__ import annotations

from typing import Any, Mapping

from mmengine.registry import Registry

MODELS = Registry("model", scope="pggcn")
# Our own scope: a pipeline read from a checkpoint's metadata can name these transforms and nothing else.
# Filled when pipeline.data.transforms is imported (its build_pipeline is the way to build from it).
TRANSFORMS = Registry("transform", scope="pggcn")


def build_from_cfg(cfg: Mapping[str, Any], registry: Registry, default_type: str | None = None) -> Any:
    """Build `registry[cfg['type']](**rest)`; ValueError for an unknown, dotted or non-string type or bad
    arguments, before anything of the user's choosing runs."""
    if not isinstance(cfg, Mapping):
        raise ValueError(f"a {registry.name} config must be a dict with a 'type', got {type(cfg).__name__}")
    args = dict(cfg)
    name = args.pop("type", default_type)
    known = registry.module_dict  # this registry's own table: no parent scope, no import
    if not isinstance(name, str) or name not in known:
        raise ValueError(f"unknown {registry.name} type {name!r}: this project's {registry.name}s are "
                         f"{', '.join(sorted(known))}")
    try:
        return known[name](**args)
    except Exception as e:  # wrong keywords (TypeError), bad values, sizes that cannot be allocated
        raise ValueError(f"{registry.name} {name}: {' '.join(str(e).split()) or type(e).__name__}") from None
