"""Configs: mmengine-style Python files with `_base_` inheritance, read and checked in one place.

Switches that several parts of a config depend on are applied after all overrides (child config,
`--cfg-options`), not baked in when a base file is read: `skeleton_source` sets every SelectSkeleton
that names no source of its own, and `model.pose_input=None` takes the pose input out of both pipelines.
So `--cfg-options skeleton_source=estimated` or a child config that only says so really changes training.
"""
from __future__ import annotations

import ast
import os
from pathlib import Path

from extract.fileio import require_file


def project_root() -> Path:
    """Where configs/, checkpoints/, assets/, data/ and work_dirs/ live: $PGGCN_HOME, else this source
    checkout (an editable install, or code run from the repository), else the current folder (the packages
    installed with a plain `pip install .`, used from a copy of the repository's folders)."""
    env = os.environ.get("PGGCN_HOME")
    if env:
        return Path(env).resolve()
    source = Path(__file__).resolve().parents[1]
    return source if (source / "configs").is_dir() else Path.cwd()


ROOT = project_root()
RESOURCES = Path(__file__).resolve().parent / "resources"  # package data: class lists, NTU sample lists
REQUIRED_KEYS = ("dataset", "ann_file", "train_split", "test_split", "model", "train_pipeline", "test_pipeline")


def parse_cfg_options(items: list[str]) -> dict:
    """['train.epochs=10', "skeleton_source='estimated'", 'model.pose_input=None'] -> a dict of Python
    literals (a value that is no literal stays a string)."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--cfg-options {item!r}: expected KEY=VALUE")
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            options[key] = value
    return options


def load_config(path: str | Path, options: dict | None = None):
    """Read a Python config; one-line ValueError naming the file when it does not parse or lacks what
    training and evaluation need."""
    from mmengine.config import Config

    path = require_file(path, "config")
    if path.suffix != ".py":
        raise ValueError(f"{path}: configs are Python files (*.py), like those in configs/")
    check_bases(path)  # before mmengine reads anything: it would load a YAML base with an unsafe loader
    try:
        cfg = Config.fromfile(str(path))
        if options:
            cfg.merge_from_dict(options)
    except Exception as e:  # SyntaxError, NameError, a missing _base_, a bad --cfg-options key, ...
        raise ValueError(f"{path}: not a valid config ({type(e).__name__}: {' '.join(str(e).split())})") from None
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise ValueError(f"{path}: not a PG-GCN config (missing {', '.join(missing)})")
    cfg.setdefault("name", path.stem)
    try:
        apply_switches(cfg)
    except (TypeError, AttributeError) as e:
        raise ValueError(f"{path}: its pipelines must be lists of dict(type=...) ({e})") from None
    return cfg


BASE_KEY = "_base_"


def base_files(path: Path) -> list[str]:
    """The `_base_` entries of a Python config, as mmengine finds them (the first top-level `_base_ = ...`;
    a string or a list of strings), read with `ast` (nothing runs). ValueError naming the file for one that
    is not a literal string or list of strings; [] for a file that does not parse (mmengine reports that)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from None
    node = next((n for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
                 and n.targets[0].id == BASE_KEY), None)
    if node is None:
        return []
    try:
        value = ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        value = None
    bases = [value] if isinstance(value, str) else value
    if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
        raise ValueError(f"{path}: line {node.lineno}: {BASE_KEY} must be a string or a list of strings "
                         f"(paths of .py configs)")
    return list(bases)


def check_bases(path: Path, _seen: set | None = None) -> None:
    """Refuse, before mmengine reads anything, a config whose `_base_` chain names anything but .py files.

    mmengine reads a .yaml / .json base with its own loaders (its YAML loader is unsafe: a
    `!!python/object/apply:os.system` tag in a base runs a command). A .py config is Python and running it
    is by design; a base is resolved as mmengine resolves it (relative to the folder of the file that names
    it) and checked in turn. One ValueError line naming both files."""
    seen = set() if _seen is None else _seen
    key = os.path.realpath(path)
    if key in seen:
        return  # a cycle: mmengine reports it
    seen.add(key)
    for base in base_files(path):
        if "{{" in base:
            raise ValueError(f"{path}: its {BASE_KEY} {base!r} uses a {{{{...}}}} substitution; name the .py "
                             f"config file itself")
        if "::" in base:  # a config of an installed package (mmengine's `package::path`): its own code
            if not base.endswith(".py"):
                raise ValueError(f"{path}: its {BASE_KEY} {base!r} is not a .py config; only .py bases are "
                                 f"accepted")
            continue
        target = path.parent / base  # as mmengine joins it
        if target.suffix != ".py":
            raise ValueError(f"{path}: its {BASE_KEY} {os.path.normpath(target)} is not a .py config; only .py "
                             f"bases are accepted (a YAML or JSON base could run code through mmengine's loader)")
        if target.is_file():  # a missing base is reported by mmengine, naming it
            try:
                check_bases(target, seen)
            except ValueError as e:
                raise ValueError(f"{path}: through its {BASE_KEY} {e}") from None


def apply_switches(cfg) -> None:
    """Apply `skeleton_source` and `model.pose_input` to both pipelines (see the module docstring)."""
    source = cfg.get("skeleton_source")
    with_pose = bool(cfg.model.get("pose_input", "heatmap"))
    for key in ("train_pipeline", "test_pipeline"):
        steps = []
        for step in cfg[key]:
            if step.get("type") == "SelectSkeleton" and source is not None and "source" not in step:
                step = dict(step, source=source)
            elif step.get("type") == "PoseInput" and not with_pose:
                continue
            elif step.get("type") == "PackInputs" and not with_pose:
                step = dict(step, with_pose=False)
            steps.append(step)
        cfg[key] = steps


def add_config_arguments(parser) -> None:
    """The arguments every config-driven tool takes: CONFIG, --ann-file, --cfg-options."""
    parser.add_argument("config")
    parser.add_argument("--ann-file", type=Path, help="annotation file to use instead of the config's ann_file")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config values, e.g. train.epochs=10 model.pose_input=None use_store=False")


def config_from_args(args):
    options = parse_cfg_options(args.cfg_options)
    if args.ann_file is not None:  # a path on the command line means the current folder (a config's: the project)
        options["ann_file"] = str(Path(args.ann_file).absolute())
    return load_config(args.config, options)


def default_work_dir(cfg) -> Path:
    return ROOT / "work_dirs" / cfg.name


def resolve(path: str | Path) -> Path:
    """A path from a config: absolute, or relative to the project folder (configs name data/..., assets/...)."""
    path = Path(path)
    return path if path.is_absolute() else ROOT / path
