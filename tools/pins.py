"""Print pinned requirements from pyproject.toml, so the Makefile never repeats a version.

Runs with the system python3 (stdlib only) before the venv exists.
"""
import argparse
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="package names to print (default: all regular pins)")
    parser.add_argument("--no-deps", action="store_true", help="print the pins installed with --no-deps")
    parser.add_argument("--extra", choices=["mmpose", "test"], help="print an extra's pins instead of the core ones")
    parser.add_argument("--from-source", action="store_true", help="with --extra: the pins built from source")
    args = parser.parse_args()
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tool = meta["tool"]["pggcn"]
    if not args.extra:
        pins = tool["no_deps"] if args.no_deps else meta["project"]["dependencies"]
    elif args.no_deps:
        pins = tool[f"{args.extra}_no_deps"]
    elif args.from_source:
        pins = tool[f"{args.extra}_from_source"]
    else:
        pins = meta["project"]["optional-dependencies"][args.extra]
    if args.names:
        wanted = {n.lower() for n in args.names}
        pins = [p for p in pins if p.split("==")[0].lower() in wanted]
    print(" ".join(pins))


if __name__ == "__main__":
    main()
