"""Training and evaluation runs: config -> data -> PG-GCN -> checkpoints, logs and reports.

A compact loop rather than mmengine's Runner (we keep mmengine's Config and registries): the Runner's
resume path unpickles its own objects, which torch >= 2.6 refuses under weights_only=True, and on a 2-core
CPU its per-iteration hooks cost throughput. What this loop guarantees:
- checkpoints are plain state dicts + JSON-able meta (pipeline/checkpoint.py): `best.pth` and `last.pth`;
  `last.pth` also carries the optimizer state and progress, so killing a run and starting the same command
  again resumes at the next epoch;
- the recipe of the strong baselines: SGD nesterov, lr scaled with the total batch, no weight decay on
  BatchNorm / biases / PG-AM graphs, linear warm-up then cosine (over epochs, or over a wall-clock budget);
- DDP through torchrun (`--launcher pytorch`): gloo on CPU, nccl on GPU; bf16 autocast on GPU only;
- logs: a tqdm bar with samples/s and ETA, `log.json` (one JSON object per line), TensorBoard scalars.
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from models import build_model

from .checkpoint import load_checkpoint, load_model, plain, save_checkpoint
from .classes import class_names as dataset_class_names
from .dataset import SkeletonDataset
from .evaluation import predict_scores, write_report
from extract.fileio import remove_stale_temps

ROOT = Path(__file__).resolve().parents[1]
TRAIN_DEFAULTS = dict(batch_size=16, epochs=65, warmup_epochs=5, lr=0.1, base_batch=64, momentum=0.9,
                      weight_decay=5e-4, nesterov=True, label_smoothing=0.0, repeat=1, num_workers=2,
                      time_budget_min=None, val_interval=1, seed=0, test_batch_size=64)


REQUIRED_KEYS = ("dataset", "ann_file", "train_split", "test_split", "model", "train_pipeline", "test_pipeline")


def load_config(path: str | Path, options: dict | None = None):
    """Read a Python config (mmengine style, `_base_` inheritance); one-line ValueError naming the file when
    it does not parse or lacks what training and evaluation need."""
    from mmengine.config import Config

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: config not found")
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    if path.suffix != ".py":
        raise ValueError(f"{path}: configs are Python files (*.py), like those in configs/")
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
    return cfg


def parse_cfg_options(items: list[str]) -> dict:
    """['train.epochs=10', "skeleton_source='estimated'", 'model.pose_input=None'] -> a dict of Python
    literals (a value that is no literal stays a string)."""
    import ast

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--cfg-options {item!r}: expected KEY=VALUE")
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value
    return options


def default_work_dir(cfg) -> Path:
    return ROOT / "work_dirs" / cfg.name


def ensure_annotations(cfg) -> Path:
    """The annotation file; NW-UCLA's is imported from the shipped archive on first use."""
    ann = Path(cfg.ann_file)
    if not ann.is_absolute():
        ann = ROOT / ann
    if not ann.exists():
        if cfg.dataset == "nwucla":
            from .nwucla import import_nwucla
            import_nwucla(out=ann)
        else:
            raise FileNotFoundError(f"{ann}: annotation file not found; build it with `make extract DATASET="
                                    f"{cfg.dataset} DATA_ROOT=...` (or point ann_file at a pyskl *_3danno.pkl)")
    return ann


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    np.random.seed((torch.initial_seed() + worker_id) % 2**32)
    torch.set_num_threads(1)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        (no_decay if p.ndim <= 1 or leaf in ("M", "M_prime", "offset") else decay).append(p)
    return [dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)]


def build_loaders(cfg, ann: Path, distributed: bool, train: bool = True):
    tc = {**TRAIN_DEFAULTS, **cfg.get("train", {})}
    test_set = SkeletonDataset(ann, cfg.test_split, cfg.test_pipeline, seed=tc["seed"])
    test_loader = DataLoader(test_set, batch_size=tc["test_batch_size"], shuffle=False,
                             num_workers=min(tc["num_workers"], 1))
    if not train:
        return None, test_loader
    train_set = SkeletonDataset(ann, cfg.train_split, cfg.train_pipeline, repeat=tc["repeat"])
    sampler = DistributedSampler(train_set, shuffle=True, seed=tc["seed"]) if distributed else None
    train_loader = DataLoader(train_set, batch_size=tc["batch_size"], shuffle=sampler is None, sampler=sampler,
                              num_workers=tc["num_workers"], drop_last=True, worker_init_fn=_worker_init,
                              persistent_workers=tc["num_workers"] > 0, pin_memory=torch.cuda.is_available())
    return train_loader, test_loader


class Schedule:
    """Linear warm-up then cosine, driven by progress in [0, 1] (iterations, or wall-clock if budgeted)."""

    def __init__(self, base_lr: float, warmup_frac: float):
        self.base_lr, self.warmup = base_lr, warmup_frac

    def lr(self, progress: float) -> float:
        warm = min(1.0, (progress + 1e-4) / self.warmup) if self.warmup > 0 else 1.0
        return self.base_lr * warm * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def train(cfg, work_dir: Path | None = None, launcher: str = "none") -> dict[str, Any]:
    """Train (resuming from work_dir/last.pth if present); returns the best test metrics."""
    from tqdm import tqdm

    distributed = launcher == "pytorch"
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank, world = _dist_info()
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    tc = {**TRAIN_DEFAULTS, **cfg.get("train", {})}
    _seed_all(tc["seed"] + rank)
    work_dir = Path(work_dir or default_work_dir(cfg))
    if work_dir.exists() and not work_dir.is_dir():
        raise ValueError(f"{work_dir}: the work dir exists and is not a folder")
    work_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(work_dir)
    ann = ensure_annotations(cfg) if rank == 0 else None
    if distributed:
        dist.barrier()
        ann = ensure_annotations(cfg)
    names = list(cfg.get("class_names") or dataset_class_names(cfg.dataset))
    train_loader, test_loader = build_loaders(cfg, ann, distributed)

    model = build_model(cfg.model).to(device)
    core = model
    for ds in (train_loader.dataset, test_loader.dataset):
        check_labels(ds, core.num_classes, ann)
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device != "cpu" else None)
    lr = tc["lr"] * tc["batch_size"] * world / tc["base_batch"]
    opt = torch.optim.SGD(_param_groups(core, tc["weight_decay"]), lr=lr, momentum=tc["momentum"],
                          nesterov=tc["nesterov"])
    budget = tc["time_budget_min"] * 60 if tc["time_budget_min"] else None
    sched = Schedule(lr, tc["warmup_epochs"] / tc["epochs"])
    meta = dict(class_names=names, config=plain(cfg.to_dict()), dataset=cfg.dataset, layout=cfg.model.get("layout"))
    state = dict(epoch=0, iteration=0, elapsed=0.0, best_top1=-1.0, best_epoch=0)
    last = work_dir / "last.pth"
    if last.exists():
        ckpt = load_checkpoint(last, map_location=device)
        core.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        state.update(ckpt["progress"])
        if rank == 0:
            print(f"resuming from {last} at epoch {state['epoch'] + 1}", flush=True)
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(work_dir / "tensorboard"))
        pose_src = train_loader.dataset[0].get("pose") is not None
        print(f"train {len(train_loader.dataset)} samples, test {len(test_loader.dataset)}; pose stream input: "
              f"{_pose_source(train_loader.dataset) if pose_src else 'none'}; lr {lr:g}; device {device}"
              f"{f'; world {world}' if distributed else ''}", flush=True)
    iters_per_epoch = len(train_loader)
    total_iters = iters_per_epoch * tc["epochs"]
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=tc["label_smoothing"])
    start = time.perf_counter() - state["elapsed"]

    def progress() -> float:
        if budget:
            return (time.perf_counter() - start) / budget
        return state["iteration"] / total_iters

    metrics: dict[str, float] = {}
    while state["epoch"] < tc["epochs"] and progress() < 1.0:
        epoch = state["epoch"] + 1
        if distributed:
            train_loader.sampler.set_epoch(epoch)
        model.train()
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{tc['epochs']}", disable=rank != 0, dynamic_ncols=True, mininterval=5,
                   leave=False)
        for batch in bar:
            if progress() >= 1.0:
                break
            for g in opt.param_groups:
                g["lr"] = sched.lr(progress())
            skel = batch["skeleton"].to(device, non_blocking=True)
            pose = batch["pose"].to(device, non_blocking=True) if "pose" in batch else None
            label = batch["label"].to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device != "cpu"):
                loss = loss_fn(model(skel, pose).float(), label)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state["iteration"] += 1
            seen += len(label) * world
            loss_sum += loss.item()
            bar.set_postfix(loss=f"{loss.item():.3f}", sps=f"{seen / (time.perf_counter() - t0):.0f}",
                            lr=f"{opt.param_groups[0]['lr']:.3g}", refresh=False)
        state["epoch"] = epoch
        state["elapsed"] = time.perf_counter() - start
        record = dict(epoch=epoch, iteration=state["iteration"], loss=loss_sum / max(1, bar.n),
                      lr=opt.param_groups[0]["lr"], samples_per_s=seen / (time.perf_counter() - t0),
                      elapsed_s=round(state["elapsed"], 1))
        last_epoch = state["epoch"] >= tc["epochs"] or progress() >= 1.0
        if rank == 0 and (epoch % tc["val_interval"] == 0 or last_epoch):
            scores, labels, _ = predict_scores(core, test_loader, device)
            from .evaluation import compute_metrics
            metrics = compute_metrics(scores, labels)
            record.update({f"test_{k}": v for k, v in metrics.items() if k != "samples"})
            if metrics["top1"] > state["best_top1"]:
                state["best_top1"], state["best_epoch"] = metrics["top1"], epoch
                save_checkpoint(work_dir / "best.pth", core.state_dict(), dict(meta, epoch=epoch, metrics=metrics))
        if rank == 0:
            save_checkpoint(last, core.state_dict(), dict(meta, epoch=epoch, metrics=metrics),
                            optimizer=opt.state_dict(), progress=dict(state))
            with open(work_dir / "log.json", "a") as f:
                f.write(json.dumps(record) + "\n")
            for k, v in record.items():
                if k != "epoch":
                    writer.add_scalar(f"train/{k}" if not k.startswith("test_") else f"test/{k[5:]}", v, epoch)
            eta = (state["elapsed"] / max(progress(), 1e-9)) * (1 - min(progress(), 1.0))
            print(f"epoch {epoch}: loss {record['loss']:.3f}, {record['samples_per_s']:.0f} samples/s"
                  + (f", test top1 {metrics['top1']:.2%} (best {state['best_top1']:.2%} @ {state['best_epoch']})"
                     if "test_top1" in record else "") + f", ETA {eta / 60:.1f} min", flush=True)
    if writer is not None:
        writer.close()
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return dict(best_top1=state["best_top1"], best_epoch=state["best_epoch"], elapsed_s=state["elapsed"],
                epochs=state["epoch"])


def _pose_source(dataset: SkeletonDataset) -> str:
    rec = dict(dataset.records[0])
    if rec.get("pose_keypoint") is not None:
        return f"{rec.get('pose_source', 'estimator')} 2D keypoints"
    return "Kinect colour-space joints (fallback, no estimator output in the annotations)"


def evaluate(cfg, checkpoint: Path, out_dir: Path) -> dict[str, float]:
    """Evaluate a checkpoint on the config's test split; write the reports into out_dir.

    Model and inputs come from the checkpoint's own metadata when it carries them (as in video inference),
    so a checkpoint is measured the way it was trained even after the config file has moved on."""
    ann = ensure_annotations(cfg)
    loaded = load_model(checkpoint, model_cfg=dict(cfg.model), test_pipeline=list(cfg.test_pipeline))
    tc = {**TRAIN_DEFAULTS, **cfg.get("train", {})}
    test_set = SkeletonDataset(ann, cfg.test_split, loaded.pipeline_cfg, seed=tc["seed"])
    check_labels(test_set, len(loaded.class_names), ann)
    loader = DataLoader(test_set, batch_size=tc["test_batch_size"], shuffle=False, num_workers=0)
    scores, labels, sample_names = predict_scores(loaded.model, loader)
    return write_report(out_dir, scores, labels, sample_names, loaded.class_names,
                        title=f"{cfg.name} on {cfg.test_split}")


def check_labels(dataset: SkeletonDataset, num_classes: int, ann: Path) -> None:
    """Every label must name one of the model's classes (else metrics fail far from the cause)."""
    for rec in dataset.records:
        label = rec["label"]
        if not isinstance(label, (int, np.integer)) or not 0 <= label < num_classes:
            raise ValueError(f"{ann}: sample {rec['frame_dir']} has label {label!r}, outside the model's "
                             f"{num_classes} classes (0..{num_classes - 1})")
