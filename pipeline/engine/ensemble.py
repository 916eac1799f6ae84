"""Ensembles after training: weighted-sum fusion of per-sample score dumps (tools/test.py's scores.npz, matched by
sample name), and separately trained checkpoints joined into one Ensemble model."""
from __future__ import annotations

import copy
import zipfile
from pathlib import Path

import numpy as np

from pipeline.engine.evaluation import compute_metrics
from extract.fileio import atomic_json_dump, atomic_open, printable, refuse_overwriting_inputs, require_file


def load_scores(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """names (N,), labels (N,) int, scores (N, C) finite; ValueError naming the file otherwise."""
    path = require_file(path, "score dump")
    try:
        with np.load(path, allow_pickle=False) as d:
            names, labels, scores = d["names"], d["labels"], d["scores"]
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a score dump from tools/test.py ({' '.join(str(e).split()) or 'empty'})") from None
    if scores.ndim != 2 or names.shape != (len(scores),) or labels.shape != (len(scores),):
        raise ValueError(f"{path}: expected names (N,), labels (N,) and scores (N, classes), got "
                         f"{names.shape}, {labels.shape} and {scores.shape}")
    if labels.dtype.kind not in "iu" or scores.dtype.kind != "f":
        raise ValueError(f"{path}: labels must be integers and scores floats")
    if len(scores) == 0:
        raise ValueError(f"{path}: holds no samples")
    if not np.isfinite(scores).all():
        raise ValueError(f"{path}: scores contain NaN or infinite values")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ValueError(f"{path}: labels outside 0..{scores.shape[1] - 1}")
    if len(set(names.tolist())) != len(names):
        raise ValueError(f"{path}: sample names repeat")
    return names, labels, scores


def fuse(paths: list[Path], weights: list[float] | None = None, out: Path | None = None) -> dict:
    weights = weights or [1.0] * len(paths)
    if len(weights) != len(paths):
        raise ValueError(f"{len(weights)} weights for {len(paths)} score files")
    if not all(np.isfinite(w) for w in weights):
        raise ValueError(f"--weights must be finite numbers, got {weights}")
    if out is not None:
        refuse_overwriting_inputs([Path(out) / "scores.npz", Path(out) / "metrics.json"], paths)
    names, labels, total = load_scores(paths[0])
    total = total * weights[0]
    order = {n: i for i, n in enumerate(names)}
    for path, w in zip(paths[1:], weights[1:]):
        n2, l2, s2 = load_scores(path)
        if set(n2) != set(order) or s2.shape[1] != total.shape[1]:
            raise ValueError(f"{path}: covers other samples or classes than {paths[0]}")
        idx = np.array([order[n] for n in n2])
        if not np.array_equal(labels[idx], l2):
            bad = n2[np.flatnonzero(labels[idx] != l2)[0]]
            raise ValueError(f"{path}: labels differ from {paths[0]} (e.g. sample {bad}); these are not the same "
                             f"test set")
        aligned = np.empty_like(s2)
        aligned[idx] = s2
        total = total + w * aligned
    metrics = compute_metrics(total, labels)
    if out is not None:
        out = Path(out)
        with atomic_open(out / "scores.npz", "wb") as f:
            np.savez_compressed(f, names=names, labels=labels, scores=total.astype(np.float32))
        atomic_json_dump(metrics, out / "metrics.json")
    return metrics


FIXED_BY_MEMBERS = ("model", "train_pipeline", "test_pipeline", "clip_len")  # what `options` may not change


def join_checkpoints(paths: list[Path], out: Path, options: dict | None = None) -> dict:
    """Separately trained PG-GCN checkpoints -> one Ensemble checkpoint (models/ensemble.py) at `out`.

    Members trained in their own processes are as different from each other as an ensemble wants, and two
    one-thread trainings side by side use a 2-core CPU better than one two-thread run of both members (229
    against ~160 samples/s). Joined, they are one model again: one `.pth` that `build_from_cfg` builds and
    every tool loads unchanged. The members must read the same inputs: the same class names, joint layout
    and test pipeline. The joined meta records each member's file (path and SHA-256), epoch, metrics and
    run record, so the ensemble says what made it. `options` ({'video_window': 52}, dotted keys for nested values) set
    values of the joined config that do not change what the members compute (not the model or pipelines);
    the meta records them. Returns the joined meta."""
    from models.ensemble import MAX_MEMBERS
    from models import build_model
    from pipeline.checkpoint import load_checkpoint, load_state_strict, save_checkpoint
    from pipeline.engine.run_record import file_digest

    paths = [Path(p) for p in paths]
    options = dict(options or {})
    for key in options:
        if key.split(".")[0] in FIXED_BY_MEMBERS:
            raise ValueError(f"--cfg-options {printable(key)}: the members fix the model and its pipelines; "
                             f"only other values of the joined config can be set")
    if not 2 <= len(paths) <= MAX_MEMBERS:
        raise ValueError(f"an ensemble joins 2 to {MAX_MEMBERS} checkpoints, got {len(paths)}")
    refuse_overwriting_inputs([out], paths)
    ckpts = [load_checkpoint(p) for p in paths]
    models, members = [], []
    first_cfg = ckpts[0]["meta"].get("config") or {}
    for path, ckpt in zip(paths, ckpts):
        meta = ckpt["meta"]
        model = (meta.get("config") or {}).get("model")
        if not isinstance(model, dict) or not model:
            raise ValueError(f"{path}: its metadata describes no model to join")
        if model.get("type", "PGGCN") != "PGGCN":
            raise ValueError(f"{path}: a {printable(model.get('type'))!s} model; only PG-GCN checkpoints are joined "
                             f"(join an ensemble's own members instead)")
        for key, what in (("class_names", "class names"), ("layout", "joint layout")):
            if meta.get(key) != ckpts[0]["meta"].get(key):
                raise ValueError(f"{path}: its {what} differ from {paths[0]}'s; an ensemble's members must read "
                                 f"the same data")
        if (meta.get("config") or {}).get("test_pipeline") != first_cfg.get("test_pipeline"):
            raise ValueError(f"{path}: its test pipeline differs from {paths[0]}'s; an ensemble's members take "
                             f"one input")
        models.append({k: v for k, v in model.items() if k not in ("type", "pretrained")})
        members.append(dict(file_digest(path), epoch=meta.get("epoch"), metrics=meta.get("metrics"),
                            run=meta.get("run")))
        twin = next((m for m in members[:-1] if m["sha256"] == members[-1]["sha256"]), None)
        if twin is not None:
            raise ValueError(f"{path}: the same checkpoint as {printable(twin['path'])}; an ensemble of one model "
                             f"with itself is that model")
    shared = {k: v for k, v in models[0].items() if all(k in m and m[k] == v for m in models[1:])}
    model_cfg = dict(type="Ensemble", members=[{k: v for k, v in m.items() if k not in shared} for m in models],
                     **shared)
    state = {f"members.{i}.{k}": v for i, ckpt in enumerate(ckpts) for k, v in ckpt["state_dict"].items()}
    try:
        net = build_model(model_cfg)
    except ValueError as e:
        raise ValueError(f"{paths[0]} and the others: cannot be one ensemble ({e})") from None
    load_state_strict(net, state, out)
    base = ckpts[0]["meta"]
    # what belongs to one training run (its record, epoch, metrics) stays with that member in `ensemble_of`
    meta = {k: v for k, v in base.items()
            if k not in ("run", "epoch", "metrics", "validated", "complete", "version")}
    config = copy.deepcopy(dict(first_cfg, model=model_cfg))
    for key, value in options.items():
        *parents, last = key.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--cfg-options {printable(key)}: {printable(part)} is not a section of the config")
        node[last] = value
    meta.update(config=config, ensemble_of=members, join_options=options, metrics=None, validated=False)
    save_checkpoint(out, state, meta)
    return meta
