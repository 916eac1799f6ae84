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


def cut_clip(src: Path, dst: Path, start: int, frames: int, fps: float | None = None) -> Path:
    """Frames [start, start + frames) of a real video written as an mp4 clip (clips cut at test time from the
    shipped videos, so their labels are what they show)."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    rate = fps or cap.get(cv2.CAP_PROP_FPS)
    for _ in range(start):
        cap.grab()
    writer = None
    for _ in range(frames):
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            dst.parent.mkdir(parents=True, exist_ok=True)
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), rate, frame.shape[1::-1])
        writer.write(frame)
    if writer is not None:
        writer.release()
    cap.release()
    return dst


def single_network(ckpt: dict) -> dict:
    """A loaded checkpoint as one PG-GCN: itself, or an Ensemble's first member as a checkpoint of its own (its
    weights, its run's epoch and metrics). Tests that edit a PG-GCN's keys (`fc.weight`, the model's `type`)
    build their cases from this, so they hold whichever architecture the shipped default is."""
    model = ckpt["meta"]["config"]["model"]
    if model.get("type", "PGGCN") != "Ensemble":
        return ckpt
    shared = {k: v for k, v in model.items() if k not in ("type", "members", "member_type")}
    member = dict(type=model.get("member_type", "PGGCN"), **shared, **model["members"][0])
    first = ckpt["meta"]["ensemble_of"][0]
    meta = {k: v for k, v in ckpt["meta"].items() if k not in ("ensemble_of", "join_options")}
    meta.update(config=dict(ckpt["meta"]["config"], model=member), epoch=first.get("epoch"),
                metrics=first.get("metrics"), validated=first.get("metrics") is not None)
    state = {k[len("members.0."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("members.0.")}
    return dict(ckpt, state_dict=state, meta=meta)
