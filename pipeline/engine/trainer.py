"""Training runs: config -> data -> PG-GCN -> checkpoints and logs.

A compact loop rather than mmengine's Runner (we keep mmengine's Config and registries): the Runner's
resume path unpickles its own objects, which torch >= 2.6 refuses under weights_only=True, and on a 2-core
CPU its per-iteration hooks cost throughput. What this loop guarantees:
- checkpoints are plain state dicts + JSON-able meta (pipeline/checkpoint.py): `best.pth` and `last.pth`;
  `last.pth` also carries the optimizer state and progress, so killing a run and starting the same command
  again resumes at the next epoch;
- the recipe of the strong baselines: SGD nesterov, lr scaled with the total batch, no weight decay on
  BatchNorm / biases / PG-AM graphs, linear warm-up then cosine over a fixed number of epochs (a wall-clock
  budget, `train.time_budget_min`, only when a config asks for one: it ties the result to the machine);
- optionally an exponential moving average of the weights (`train.ema_decay`, engine/ema.py), which is
  what gets validated and saved: it steadies the last epoch's accuracy; the schedule is engine/schedule.py;
- reproducible: with the same seed on a CPU two runs give the same losses (per-sample generators in
  pipeline/data/dataset.py, seeded shuffling, seeded initialisation);
- DDP through torchrun (`--launcher pytorch`): gloo on CPU, nccl on GPU; bf16 autocast on GPU only;
- logs: a tqdm bar with samples/s and ETA, `log.json` (one JSON object per line), TensorBoard scalars, and
  one line per epoch through `logging` (the tools print it: pipeline/cli.py);
- `train()` reads as the run does: setup -> resume -> epochs -> finish, on a copy of the caller's config.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from extract.fileio import one_line, printable, refuse_overwriting_inputs, remove_stale_temps
from models import build_model

from pipeline.checkpoint import load_checkpoint, load_state_strict, plain, save_checkpoint
from pipeline.data.classes import class_names as dataset_class_names
from pipeline.config import default_work_dir
from pipeline.data.dataset import EpochSampler, SkeletonDataset, test_loader
from pipeline.engine.annotation_file import ensure_annotations
from pipeline.engine.evaluation import check_joints, check_labels, compute_metrics, predict_scores
from pipeline.engine.ema import WeightEMA
from pipeline.engine.schedule import Schedule
from pipeline.engine.run_record import differences, holds_a_run, make_record, move_aside, read_record, write_record

log = logging.getLogger(__name__)
WORK_DIR_FILES = ("best.pth", "last.pth", "log.json", "run.json")  # what a run writes (never one of its inputs)
TRAIN_DEFAULTS = dict(batch_size=16, epochs=65, warmup_epochs=5, lr=0.1, base_batch=64, momentum=0.9,
                      weight_decay=5e-4, nesterov=True, label_smoothing=0.0, repeat=1, num_workers=2,
                      time_budget_min=None, val_interval=1, seed=0, test_batch_size=64, ema_decay=None)


# ------------------------------------------------------------------------------------------ the parts


def setup_distributed(launcher: str) -> tuple[int, int, str]:
    """(rank, world size, device); under torchrun (`--launcher pytorch`) joins the process group."""
    if launcher == "pytorch":
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    return rank, world, device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)


def build_loaders(cfg, ann: Path, rank: int = 0, world: int = 1, tc: dict | None = None) -> tuple[DataLoader, DataLoader]:
    tc = tc or train_settings(cfg)
    train_set = SkeletonDataset(ann, cfg.train_split, cfg.train_pipeline, repeat=tc["repeat"], seed=tc["seed"],
                                use_store=cfg.get("use_store", True))
    sampler = EpochSampler(train_set, seed=tc["seed"], num_replicas=world, rank=rank)
    train = DataLoader(train_set, batch_size=tc["batch_size"], sampler=sampler, num_workers=tc["num_workers"],
                       drop_last=True, worker_init_fn=_worker_init, persistent_workers=tc["num_workers"] > 0,
                       pin_memory=torch.cuda.is_available())
    return train, test_loader(cfg, ann, cfg.test_pipeline, tc["test_batch_size"], seed=tc["seed"])


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        (no_decay if p.ndim <= 1 or leaf in ("M", "M_prime", "offset") else decay).append(p)
    return [dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)]


@dataclass
class Progress:
    """What `last.pth` carries to resume a run, and what the log reports."""

    epoch: int = 0
    iteration: int = 0
    elapsed: float = 0.0
    best_top1: float = -1.0
    best_epoch: int = 0
    ema_updates: int = 0
    history: list = field(default_factory=list)


@dataclass
class Run:
    """Everything one training run holds, passed between the steps below."""

    cfg: Any
    tc: dict
    work_dir: Path
    rank: int
    world: int
    device: str
    model: torch.nn.Module  # DDP-wrapped under torchrun
    core: torch.nn.Module  # the bare model
    opt: torch.optim.Optimizer
    schedule: Schedule
    ema: WeightEMA | None
    meta: dict
    progress: Progress
    started: float = 0.0

    @property
    def evaluated(self) -> torch.nn.Module:
        """The weights that are validated and saved: the average when there is one."""
        return self.ema.model if self.ema is not None else self.core

    def fraction_done(self, total_iters: int) -> float:
        budget = self.tc["time_budget_min"]
        if budget:
            return (time.perf_counter() - self.started) / (budget * 60)
        return self.progress.iteration / max(total_iters, 1)


def resume(run: Run) -> None:
    """Continue from work_dir/last.pth when it exists (the same command after a kill resumes). The work dir's
    record was checked against this run before (`check_work_dir`), so the run in it is this one."""
    last = run.work_dir / "last.pth"
    if not last.exists():
        return
    ckpt = load_checkpoint(last, map_location=run.device)
    if not isinstance(ckpt.get("optimizer"), dict) or not isinstance(ckpt.get("progress"), dict):
        raise ValueError(f"{last}: not a checkpoint to resume from (it has no optimizer state or progress: a "
                         f"model file copied in?); move it away, or start afresh with --restart")
    load_state_strict(run.core, ckpt.get("train_state_dict") or ckpt["state_dict"], last)
    try:
        run.opt.load_state_dict(ckpt["optimizer"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{last}: its optimizer state does not fit this model ({one_line(e)[:200]})") from None
    saved = {k: v for k, v in ckpt["progress"].items() if k in Progress.__dataclass_fields__}
    run.progress = Progress(**saved)
    if run.ema is not None:
        load_state_strict(run.ema.model, ckpt["state_dict"], last)
        run.ema.updates = run.progress.ema_updates
    if run.rank == 0:
        if run.progress.epoch >= run.tc["epochs"]:
            log.info("%s already holds the finished run (%d epochs); nothing to train (--restart trains again, "
                     "moving this run aside)", printable(str(last)), run.progress.epoch)
        else:
            log.info("resuming from %s at epoch %d", printable(str(last)), run.progress.epoch + 1)


def check_work_dir(work_dir: Path, record: dict, restart: bool, rank: int = 0) -> None:
    """A work dir that holds a run is reused only for the same run (same config, annotation file,
    LOAD_FROM and classes); otherwise one line says what differs. `restart` moves any run aside first."""
    if not holds_a_run(work_dir):
        return
    last = work_dir / "last.pth"
    old = read_record(work_dir, load_checkpoint(last)["meta"] if last.exists() else None)
    if old is None:
        diffs = ["an unknown run (no run.json: made by another version, or files copied in)"]
    else:
        diffs = differences(old, record)
    if restart:
        if rank == 0:
            moved = move_aside(work_dir)
            log.info("moved the earlier run in %s aside to %s", printable(str(work_dir)), printable(str(moved)))
        return
    if diffs:
        what = diffs[0] if old is None else "another " + "; another ".join(d.removeprefix("the ") for d in diffs)
        raise ValueError(f"{work_dir}: holds a run made with {what}; use another WORK_DIR, or add --restart "
                         f"(make train RESTART=1) to move that run aside and start afresh")


def member_losses(loss_fn, logits: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(loss to back-propagate, loss to show). Logits (N, C) are one model's. Logits (N, K, C) are an
    ensemble's members in training (models/ensemble.py): the K losses are summed, so that each member gets the
    gradient it would get alone, and their mean is shown, comparable with a single model's loss."""
    if logits.dim() == 3:
        total = sum(loss_fn(logits[:, k], label) for k in range(logits.shape[1]))
        return total, total.item() / logits.shape[1]
    loss = loss_fn(logits, label)
    return loss, loss.item()


def train_one_epoch(run: Run, loader: DataLoader, loss_fn, total_iters: int) -> dict:
    """One pass over the training data; stops early only when a wall-clock budget runs out."""
    from tqdm import tqdm

    epoch = run.progress.epoch + 1
    loader.sampler.set_epoch(epoch)
    run.model.train()
    t0, seen, loss_sum, steps = time.perf_counter(), 0, 0.0, 0
    bar = tqdm(loader, desc=f"epoch {epoch}/{run.tc['epochs']}", disable=run.rank != 0, dynamic_ncols=True,
               mininterval=5, leave=False)
    complete = True
    for batch in bar:
        if run.fraction_done(total_iters) >= 1.0:
            complete = False
            break
        for g in run.opt.param_groups:
            g["lr"] = run.schedule.lr(run.fraction_done(total_iters))
        skel = batch["skeleton"].to(run.device, non_blocking=True)
        pose = batch["pose"].to(run.device, non_blocking=True) if "pose" in batch else None
        label = batch["label"].to(run.device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=run.device != "cpu"):
            loss, shown = member_losses(loss_fn, run.model(skel, pose).float(), label)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        if run.ema is not None:
            run.ema.update(run.core)
        run.progress.iteration += 1
        steps += 1
        seen += len(label) * run.world
        loss_sum += shown
        bar.set_postfix(loss=f"{shown:.3f}", sps=f"{seen / (time.perf_counter() - t0):.0f}",
                        lr=f"{run.opt.param_groups[0]['lr']:.3g}", refresh=False)
    bar.close()
    run.progress.epoch = epoch
    run.progress.elapsed = time.perf_counter() - run.started
    run.progress.ema_updates = run.ema.updates if run.ema is not None else 0
    return dict(epoch=epoch, iteration=run.progress.iteration, loss=loss_sum / max(1, steps),
                lr=run.opt.param_groups[0]["lr"], samples_per_s=seen / (time.perf_counter() - t0),
                elapsed_s=round(run.progress.elapsed, 1), complete=complete)


def validate(run: Run, loader: DataLoader) -> dict[str, float]:
    scores, labels, _ = predict_scores(run.evaluated, loader, run.device)
    return compute_metrics(scores, labels)


def save_checkpoints(run: Run, record: dict, metrics: dict | None) -> None:
    """best.pth when the epoch's validation beats the best so far; last.pth always. Metrics are stored only
    for an epoch that was validated (`validated` says so), never carried over from an earlier one."""
    epoch = run.progress.epoch
    meta = dict(run.meta, epoch=epoch, metrics=metrics, validated=metrics is not None,
                complete=record["complete"])
    if metrics is not None and metrics["top1"] > run.progress.best_top1:
        run.progress.best_top1, run.progress.best_epoch = metrics["top1"], epoch
        save_checkpoint(run.work_dir / "best.pth", run.evaluated.state_dict(), meta)
    extra = dict(train_state_dict={k: v.detach().cpu() for k, v in run.core.state_dict().items()}) \
        if run.ema is not None else {}
    save_checkpoint(run.work_dir / "last.pth", run.evaluated.state_dict(), meta, optimizer=run.opt.state_dict(),
                    progress=plain(run.progress.__dict__), **extra)


# ---------------------------------------------------------------------------------------------- a run


def prepare_finetune(cfg, checkpoint: Path) -> dict:
    """`LOAD_FROM`: the model takes the checkpoint's architecture (its layout included), and both pipelines
    map the data into that layout first (NTU-25 clips into a Kinect-v1-20 model: a no-op when they agree).
    Returns the checkpoint's weights; everything but the classifier is loaded after the model is built."""
    ckpt = load_checkpoint(checkpoint)
    model_cfg = (ckpt["meta"].get("config") or {}).get("model")
    if not isinstance(model_cfg, dict):
        raise ValueError(f"{checkpoint}: its metadata describes no model to start from")
    cfg.model = {**model_cfg, "num_classes": cfg.model.get("num_classes", model_cfg.get("num_classes"))}
    layout = model_cfg.get("layout", "ntu25")
    for key in ("train_pipeline", "test_pipeline"):
        steps = [t for t in cfg[key] if t.get("type") != "MapLayout"]
        cfg[key] = [dict(type="MapLayout", target=layout), *steps]
    return ckpt["state_dict"]


def _is_classifier(key: str) -> bool:
    """`fc.weight` of a PG-GCN, `members.1.fc.bias` of an ensemble's member."""
    return key.startswith("fc.") or ".fc." in key


def load_all_but_classifier(model: torch.nn.Module, state: dict, checkpoint: Path) -> int:
    """Copy every tensor whose name and shape match, the classifiers (`fc.`) excepted; returns how many."""
    own = model.state_dict()
    keep = {k: v for k, v in state.items() if not _is_classifier(k) and k in own and own[k].shape == v.shape}
    missing = [k for k in own if not _is_classifier(k) and k not in keep]
    if missing:
        raise ValueError(f"{checkpoint}: does not fit this model ({len(missing)} tensors differ, e.g. {missing[0]})")
    model.load_state_dict(keep, strict=False)
    return len(keep)


def train(cfg, work_dir: Path | None = None, launcher: str = "none", load_from: Path | None = None,
          restart: bool = False, config_path: Path | None = None) -> dict[str, Any]:
    """Train (resuming from work_dir/last.pth if it holds this same run); returns the best and the final
    test metrics. `load_from` starts from another checkpoint's weights (all but the classifier); `restart`
    moves a run already in work_dir aside and starts afresh. The caller's `cfg` is left as it is."""
    run, train_loader, val_loader = setup(copy.deepcopy(cfg), work_dir, launcher, load_from, restart, config_path)
    resume(run)
    if run.rank == 0:  # only now, once every check passed: a refused run leaves the work dir as it was
        write_record(run.work_dir, run.meta["run"])
    run_epochs(run, train_loader, val_loader)
    return finish(run)


def train_settings(cfg) -> dict:
    """The config's `train` section over the defaults (merged once per run)."""
    return {**TRAIN_DEFAULTS, **cfg.get("train", {})}


def setup(cfg, work_dir: Path | None, launcher: str, load_from: Path | None, restart: bool,
          config_path: Path | None) -> tuple[Run, DataLoader, DataLoader]:
    """Everything before the first epoch: processes, data, the work dir's record checked, model, optimizer.
    Changes `cfg` (a LOAD_FROM takes over the checkpoint's architecture; a file of the user's own clips sets
    the class count): `train` hands it a copy."""
    rank, world, device = setup_distributed(launcher)
    tc = train_settings(cfg)
    seed_everything(tc["seed"] + rank)
    work_dir = Path(work_dir or default_work_dir(cfg))
    if work_dir.exists() and not work_dir.is_dir():
        raise ValueError(f"{work_dir}: the work dir exists and is not a folder")
    ann = ensure_annotations(cfg) if rank == 0 else None
    if world > 1:
        dist.barrier()
        ann = ensure_annotations(cfg)
    refuse_overwriting_inputs([work_dir / n for n in WORK_DIR_FILES], [load_from, ann, config_path])
    work_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(work_dir)
    start_weights = prepare_finetune(cfg, Path(load_from)) if load_from else None
    train_loader, val_loader = build_loaders(cfg, ann, rank, world, tc)
    names = list(train_loader.dataset.label_names or cfg.get("class_names") or dataset_class_names(cfg.dataset))
    if train_loader.dataset.label_names:  # a file of the user's own clips says how many classes there are
        cfg.model["num_classes"] = len(names)
    if rank == 0:
        warn_overlap(train_loader.dataset, val_loader.dataset)
    record = make_record(config_path, plain(cfg.to_dict()), ann, Path(load_from) if load_from else None, names)
    check_work_dir(work_dir, record, restart, rank)
    if world > 1:
        dist.barrier()
    core = build_model(cfg.model).to(device)
    if start_weights is not None and not (work_dir / "last.pth").exists():
        n = load_all_but_classifier(core, start_weights, Path(load_from))
        if rank == 0:
            log.info("initialised %d tensors (all but the classifier) from %s", n, printable(str(load_from)))
    for ds in (train_loader.dataset, val_loader.dataset):
        check_labels(ds, core.num_classes, ann)
        check_joints(ds, core, ann)
    model = torch.nn.parallel.DistributedDataParallel(
        core, device_ids=[device] if device != "cpu" else None) if world > 1 else core
    lr = tc["lr"] * tc["batch_size"] * world / tc["base_batch"]
    opt = torch.optim.SGD(param_groups(core, tc["weight_decay"]), lr=lr, momentum=tc["momentum"],
                          nesterov=tc["nesterov"])
    meta = dict(class_names=names, config=plain(cfg.to_dict()), dataset=cfg.dataset, layout=cfg.model.get("layout"),
                run=record)
    run = Run(cfg, tc, work_dir, rank, world, device, model, core, opt,
              Schedule(lr, tc["warmup_epochs"] / tc["epochs"]),
              WeightEMA(core, tc["ema_decay"]) if tc["ema_decay"] else None, meta, Progress())
    if rank == 0:
        length = f"{tc['epochs']} epochs" + (f" or {tc['time_budget_min']} min" if tc["time_budget_min"] else "")
        ema = f"; EMA {tc['ema_decay']}" if tc["ema_decay"] else ""
        log.info("train %d samples, test %d; pose stream input: %s; lr %g; %s%s; device %s%s",
                 len(train_loader.dataset), len(val_loader.dataset), pose_source(train_loader.dataset), lr, length,
                 ema, device, f"; world {world}" if world > 1 else "")
    return run, train_loader, val_loader


def run_epochs(run: Run, train_loader: DataLoader, val_loader: DataLoader) -> None:
    """Epochs until the recipe's count (or the time budget); after each: validate (rank 0), save, log."""
    tc = run.tc
    run.started = time.perf_counter() - run.progress.elapsed
    writer = None
    if run.rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run.work_dir / "tensorboard"))
    total_iters = len(train_loader) * tc["epochs"]
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=tc["label_smoothing"])
    try:
        while run.progress.epoch < tc["epochs"] and run.fraction_done(total_iters) < 1.0:
            epoch_log = train_one_epoch(run, train_loader, loss_fn, total_iters)
            final = run.progress.epoch >= tc["epochs"] or run.fraction_done(total_iters) >= 1.0
            metrics = None
            if run.rank == 0 and (run.progress.epoch % tc["val_interval"] == 0 or final):
                metrics = validate(run, val_loader)
                epoch_log.update({f"test_{k}": v for k, v in metrics.items() if k != "samples"})
            if run.rank == 0:
                save_checkpoints(run, epoch_log, metrics)
                _log(run, writer, epoch_log, total_iters)
    finally:
        if writer is not None:
            writer.close()


def finish(run: Run) -> dict[str, Any]:
    """Leave the process group; the run's figures (the last epoch's from last.pth)."""
    if run.world > 1:
        # DDP keeps the gloo group's threads alive past destroy_process_group; the barrier lets them finish freeing
        # the last collectives' tensors before the interpreter shuts down (else a rank can abort at exit).
        dist.barrier()
        dist.destroy_process_group()
    last_pth = run.work_dir / "last.pth"
    last = load_checkpoint(last_pth)["meta"] if last_pth.exists() else {}
    return dict(best_top1=run.progress.best_top1, best_epoch=run.progress.best_epoch,
                last_top1=(last.get("metrics") or {}).get("top1"), elapsed_s=run.progress.elapsed,
                epochs=run.progress.epoch)


def warn_overlap(train_set: SkeletonDataset, val_set: SkeletonDataset) -> None:
    """Samples in both splits make the test figure no held-out figure: say so (not an error: a user may mean it)."""
    both = np.intersect1d(train_set.names, val_set.names)
    if len(both):
        log.warning("%d of the %d test samples (split %r) are also training samples (split %r), e.g. %s: the test "
                    "accuracy is not a held-out figure", len(both), len(set(val_set.names)), val_set.split,
                    train_set.split, printable(str(both[0])))


def _log(run: Run, writer, record: dict, total_iters: int) -> None:
    with open(run.work_dir / "log.json", "a") as f:
        f.write(json.dumps(record) + "\n")
    for k, v in record.items():
        if k not in ("epoch", "complete"):
            writer.add_scalar(f"test/{k[5:]}" if k.startswith("test_") else f"train/{k}", v, record["epoch"])
    done = run.fraction_done(total_iters)
    eta = run.progress.elapsed / max(done, 1e-9) * (1 - min(done, 1.0))
    log.info(f"epoch {record['epoch']}: loss {record['loss']:.3f}, {record['samples_per_s']:.0f} samples/s"
          + (f", test top1 {record['test_top1']:.2%} (best {run.progress.best_top1:.2%} @ "
             f"{run.progress.best_epoch})" if "test_top1" in record else "")
          + ("" if record["complete"] else ", cut short by the time budget")
          + f", ETA {eta / 60:.1f} min")


def pose_source(dataset: SkeletonDataset) -> str:
    """What the pose stream really sees, read off the configured pipeline and the data (first record)."""
    steps = dataset.pipeline.transforms
    at = next((i for i, t in enumerate(steps) if type(t).__name__ == "PoseInput"), None)
    if at is None:
        return "none (no pose stream)"
    pose = steps[at]
    rec = dict(dataset.records[0], rng=np.random.default_rng(0))
    for step in steps[:at]:  # the record as PoseInput gets it (a 2D file's keypoints become its pose there)
        rec = step(rec)
    used = pose.source_for(rec)
    if used == "record":
        return f"{rec.get('pose_source', 'estimator')} 2D keypoints"
    if used == "kinect_color":
        return "Kinect colour-space joints (fallback: no estimator output in the annotations)"
    if pose.source == "projection":
        return "camera projection of the (augmented) 3D joints"
    return "camera projection of the 3D joints (fallback: the file has no 2D pose and no Kinect colour joints)"
