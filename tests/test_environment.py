"""environment.yml and pyproject.toml must pin the same packages at the same versions."""
import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _pyproject_pins() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tool = meta["tool"]["pggcn"]
    extras = [pin for pins in meta["project"]["optional-dependencies"].values() for pin in pins]
    pins = meta["project"]["dependencies"] + tool["no_deps"] + extras + tool["mmpose_no_deps"] + tool["mmpose_from_source"]
    out = {}
    for pin in pins:
        name, sep, version = pin.partition("==")
        assert sep, f"pyproject.toml: {pin!r} is not an exact pin"
        out[name.lower()] = version
    return out


def _environment_pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s*(?:-|#\s*no-deps:)\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
        extra = re.match(r"^#\s*extra [a-z]+(?: [a-z-]+)?:\s*(.*)$", line)
        if extra:
            for pin in extra.group(1).split():
                name, _, version = pin.partition("==")
                out[name.lower()] = version
    return out


def test_environment_yml_agrees_with_pyproject():
    assert _environment_pins() == _pyproject_pins()


def test_every_dependency_is_exactly_pinned():
    for name, version in _pyproject_pins().items():
        assert re.fullmatch(r"\d+(\.\d+)*", version), f"{name}=={version} is not an exact version"


def test_pytest_is_a_test_extra_not_a_runtime_dependency():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not any(p.startswith("pytest") for p in meta["project"]["dependencies"])
    assert any(p.startswith("pytest==") for p in meta["project"]["optional-dependencies"]["test"])
