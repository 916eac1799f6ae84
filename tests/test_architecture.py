"""The package layers import one way, bottom to top: models -> extract -> pipeline -> tools (and bench).

models (torch only: joint layouts, graph, heatmap renderer, PG-GCN) knows nothing of pose estimation;
extract (pose from pixels) knows models but no dataset code; pipeline (data, training, evaluation,
extraction runs, video inference) composes both; tools and bench are thin command lines on top. Every
import counts, also one inside a function, so a cycle cannot be hidden by importing late.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"models": 0, "extract": 1, "pipeline": 2, "tools": 3, "bench": 3}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level project package) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = path.relative_to(ROOT).parts[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, own if node.level else (node.module or "").split(".")[0]))
    return [(line, pkg) for line, pkg in found if pkg in LAYER]


def test_imports_go_one_way():
    wrong = []
    for package, rank in LAYER.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, target in _imports(path):
                if LAYER[target] > rank or (target in ("tools", "bench") and target != package):
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target} (layer {package} may not)")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


# Inside pipeline/: four packages by job on a ground floor (config, cli, checkpoint) they all share.
GROUND = {"config", "cli", "checkpoint"}
MAY_NOT = {  # package -> the pipeline packages it may not import
    "ground": {"data", "datasets", "engine", "inference"},
    "data": {"datasets", "engine", "inference"},
    "datasets": {"engine", "inference"},
    "inference": {"engine"},
    "engine": set(),
}


def _pipeline_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module under pipeline) of every import of a pipeline module in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = path.relative_to(ROOT).with_suffix("").parts
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("pipeline.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[:len(here) - node.level])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module == "pipeline":
                found += [(node.lineno, f"pipeline.{a.name}") for a in node.names]
            elif module.startswith("pipeline."):
                found.append((node.lineno, module))
    return found


def _package_of(module_parts: tuple[str, ...]) -> str:
    return module_parts[1] if len(module_parts) > 2 else "ground"


def test_pipeline_packages_keep_their_floors():
    """data reads data; datasets build it; the engine trains and evaluates; inference never needs the engine."""
    wrong = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1] + ("__init__",)
        own = _package_of(parts)
        for line, module in _pipeline_imports(path):
            target = _package_of(tuple(module.split(".")) + (("x",) if module.count(".") == 1 else ()))
            if module.count(".") == 1 and module.split(".")[1] in MAY_NOT:
                target = module.split(".")[1]
            if target in MAY_NOT[own]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module} ({own} may not import {target})")
    assert not wrong, "imports across the pipeline floors:\n" + "\n".join(wrong)


def test_pipeline_root_holds_only_the_ground_floor():
    modules = {p.stem for p in (ROOT / "pipeline").glob("*.py")} - {"__init__"}
    assert modules == GROUND, f"pipeline/ root should hold only {sorted(GROUND)}: {sorted(modules - GROUND)}"


def test_tools_need_no_path_tricks():
    """No tool edits sys.path, and none shadows a package (python puts the script's folder first on sys.path)."""
    packages = {"models", "extract", "pipeline", "bench", "tests"}
    for path in sorted((ROOT / "tools").glob("*.py")):
        assert path.stem not in packages, f"{path.name} shadows the {path.stem} package"
        text = path.read_text()
        assert "sys.path" not in text and "_toolpath" not in text, f"{path.name} edits sys.path"


def test_models_need_only_torch_numpy_and_the_registry():
    allowed = {"torch", "numpy", "mmengine", "__future__", "dataclasses", "typing", "math", "copy", "functools", "importlib", "sys"}
    odd = []
    for path in sorted((ROOT / "models").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and not node.level else [])
            odd += [f"{path.name}: {n}" for n in names if n and n.split(".")[0] not in allowed | {"models"}]
    assert not odd, odd


def test_a_plain_pip_install_works_outside_the_source_tree(tmp_path):
    """`pip install .` (not editable) carries every package and its data files, and finds the project's
    folders through PGGCN_HOME instead of its own location."""
    import subprocess
    import sys
    import zipfile

    import shutil

    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("models", "extract", "pipeline"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(wheels), str(source)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    wheel = next(wheels.glob("pggcn-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("models/pggcn.py", "extract/multiperson.py", "pipeline/engine/trainer.py",
                   "pipeline/resources/NTU_RGBD120_samples_with_missing_skeletons.txt",
                   "pipeline/resources/ntu120_classes.txt"):
        assert needed in names, needed
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import pipeline, pipeline.config as c, pipeline.datasets.ntu.names as n, pipeline.data.classes as k;"
            "print(pipeline.__file__); print(c.ROOT); print(len(n.missing_skeletons('ntu120')));"
            "print(len(k.class_names('ntu120')))")
    env = {"PYTHONPATH": str(target), "PGGCN_HOME": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    where, root, missing, classes = out.stdout.split()
    assert where.startswith(str(target)) and Path(root) == ROOT and missing == "535" and classes == "120"


def test_every_tool_named_in_the_makefile_scripts_and_docs_exists():
    """A renamed tool (tools/extract.py became extract_dataset.py) must not leave a command behind that names
    the old file: `make demo` and the docs run these."""
    import re

    named = set()
    for path in [ROOT / "Makefile", ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "tools").glob("*.py"),
                 *(ROOT / "bench").glob("*.py")]:
        named |= {(m, path.name) for m in re.findall(r"\btools/([a-z_]+\.py)\b", path.read_text())}
    missing = sorted(f"{where} names tools/{tool}" for tool, where in named if not (ROOT / "tools" / tool).exists())
    assert not missing, missing
