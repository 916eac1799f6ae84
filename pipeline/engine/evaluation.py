"""Evaluation: scores for a split, metrics, and the reports people read (CSV, confusion-matrix PNG).

Scores are dumped per sample (npz: names, labels, scores) so that tools/ensemble.py can fuse several
streams or models by a weighted sum, as the multi-stream baselines report their numbers.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from extract.fileio import atomic_json_dump, atomic_open, remove_stale_temps

from pipeline.inference.checkpoint_model import load_model
from pipeline.data.dataset import test_loader
from pipeline.engine.annotation_file import ensure_annotations

REPORT_FILES = ("metrics.json", "per_class.csv", "confusion.png", "scores.npz")


def evaluate(cfg, checkpoint: Path, out_dir: Path, num_clips: int | None = None,
             title: str | None = None) -> dict[str, float]:
    """Evaluate a checkpoint on the config's test split; write the reports into out_dir.

    Model and inputs come from the checkpoint's own metadata when it carries them (as in video inference),
    so a checkpoint is measured the way it was trained even after the config file has moved on.
    `num_clips` overrides the test pipeline's clips per sample (test-time augmentation: their softmax is
    averaged) without touching anything else of that pipeline."""
    ann = ensure_annotations(cfg)
    loaded = load_model(checkpoint, model_cfg=dict(cfg.model), test_pipeline=list(cfg.test_pipeline))
    steps = loaded.pipeline_cfg
    if num_clips is not None:
        steps = [dict(s, num_clips=num_clips) if isinstance(s, dict) and s.get("type") == "UniformSample" else s
                 for s in steps]
    loader = test_loader(cfg, ann, steps, batch_size=cfg.get("train", {}).get("test_batch_size", 64))
    check_labels(loader.dataset, len(loaded.class_names), ann)
    check_joints(loader.dataset, loaded.model, ann)
    scores, labels, sample_names = predict_scores(loaded.model, loader)
    return write_report(out_dir, scores, labels, sample_names, loaded.class_names,
                        title=title or f"{cfg.name} on {cfg.test_split}")


def check_joints(dataset, model, ann: Path) -> None:
    """The data's joint count must be the model's (a COCO-17 file into an NTU-25 model, say)."""
    layout = getattr(model, "layout", None)
    joints = dataset[0]["skeleton"].shape[-2]
    if layout is not None and joints != layout.num_joints:
        raise ValueError(f"{ann}: samples have {joints} joints, the model's layout {layout.name} has "
                         f"{layout.num_joints}; use a config whose model layout fits the file")


def check_labels(dataset, num_classes: int, ann: Path) -> None:
    """Every label must name one of the model's classes (else the metrics fail far from the cause)."""
    bad = np.flatnonzero((dataset.labels < 0) | (dataset.labels >= num_classes))
    if len(bad):
        raise ValueError(f"{ann}: sample {dataset.names[bad[0]]} has label {int(dataset.labels[bad[0]])}, outside "
                         f"the model's {num_classes} classes (0..{num_classes - 1})")


@torch.no_grad()
def predict_scores(model: torch.nn.Module, loader, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Softmax scores (N, C) averaged over test clips, labels (N,), sample names."""
    model.eval()
    scores, labels, names = [], [], []
    for batch in loader:
        skel = batch["skeleton"].to(device).float()
        pose = batch["pose"].to(device).float() if "pose" in batch else None
        clips = 1
        if skel.dim() == 6:  # (B, clips, C, T, V, M)
            clips = skel.shape[1]
            skel = skel.flatten(0, 1)
            pose = pose.flatten(0, 1) if pose is not None else None
        prob = torch.softmax(model(skel, pose).float(), dim=-1)
        scores.append(prob.reshape(-1, clips, prob.shape[-1]).mean(1).cpu().numpy())
        labels.append(batch["label"].numpy())
        names.extend(batch["frame_dir"])
    return np.concatenate(scores), np.concatenate(labels), names


def compute_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """top1, top5 and mean class accuracy, as fractions."""
    order = np.argsort(-scores, axis=1)
    top1 = float((order[:, 0] == labels).mean())
    top5 = float((order[:, :5] == labels[:, None]).any(1).mean())
    per_class = per_class_accuracy(scores, labels)
    present = ~np.isnan(per_class)
    return dict(top1=top1, top5=top5, mean_class_acc=float(per_class[present].mean()), samples=int(len(labels)))


def per_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    num_classes = scores.shape[1]
    pred = scores.argmax(1)
    total = np.bincount(labels, minlength=num_classes)
    correct = np.bincount(labels[pred == labels], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct / np.maximum(total, 1), np.nan)


def confusion_matrix(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    c = scores.shape[1]
    return np.bincount(labels * c + scores.argmax(1), minlength=c * c).reshape(c, c)


def write_report(out_dir: str | Path, scores: np.ndarray, labels: np.ndarray, names: list[str],
                 class_names: list[str], title: str = "") -> dict[str, float]:
    """metrics.json, per_class.csv, confusion.png and scores.npz into out_dir; returns the metrics."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: the report folder exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    metrics = compute_metrics(scores, labels)
    atomic_json_dump(metrics, out / "metrics.json")
    acc = per_class_accuracy(scores, labels)
    total = np.bincount(labels, minlength=scores.shape[1])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["class_id", "class_name", "samples", "accuracy"])
    for i, name in enumerate(class_names):
        w.writerow([i, name, int(total[i]), "" if np.isnan(acc[i]) else f"{acc[i]:.4f}"])
    with atomic_open(out / "per_class.csv", "w") as f:
        f.write(buf.getvalue())
    with atomic_open(out / "scores.npz", "wb") as f:
        np.savez_compressed(f, names=np.array(names), labels=labels, scores=scores.astype(np.float32))
    plot_confusion(confusion_matrix(scores, labels), class_names, out / "confusion.png",
                   title or f"top-1 {metrics['top1']:.1%} on {len(labels)} samples")
    return metrics


def plot_confusion(cm: np.ndarray, class_names: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(class_names)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, np.maximum(rows, 1), dtype=np.float64)
    size = max(6.0, 0.12 * n + 4)
    fig, ax = plt.subplots(figsize=(size, size * 0.9), dpi=110 if n <= 20 else 80)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), [c[:28] for c in class_names], rotation=90, fontsize=8 if n <= 20 else 4)
    ax.set_yticks(range(n), [c[:28] for c in class_names], fontsize=8 if n <= 20 else 4)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)
