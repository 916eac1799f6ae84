"""Who does what when: per-person window probabilities -> smoothed segments in seconds, and their picture.

Windows overlap, so each frame gets the mean of the probabilities of the windows that cover it; a moving
average over `smooth_s` seconds takes out window-to-window flicker; a frame whose best class scores below
`threshold` is `unknown`; runs shorter than `min_len_s` are merged into the run before them (or after, at
the start). Frames where a person has no window (not in view) belong to no segment.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from extract.fileio import atomic_open, printable

UNKNOWN = "unknown"


def frame_probs(window_probs: np.ndarray, windows: list[dict], frames: int) -> np.ndarray:
    """(W, C) window probabilities (NaN rows: no window for this person) -> (T, C) per frame, NaN where none."""
    total = np.zeros((frames, window_probs.shape[1]), np.float64)
    count = np.zeros(frames, np.int64)
    for w, p in zip(windows, window_probs):
        if np.isfinite(p).all():
            total[w["start"]:w["end"]] += p
            count[w["start"]:w["end"]] += 1
    out = np.full_like(total, np.nan)
    has = count > 0
    out[has] = total[has] / count[has, None]
    return out


def smooth(probs: np.ndarray, width: int) -> np.ndarray:
    """Moving average over `width` frames along time, ignoring frames without probabilities."""
    if width <= 1:
        return probs
    valid = np.isfinite(probs).all(axis=1)
    filled = np.where(valid[:, None], probs, 0.0)
    kernel = np.ones(width)
    num = np.stack([np.convolve(filled[:, c], kernel, mode="same") for c in range(probs.shape[1])], axis=1)
    den = np.convolve(valid.astype(np.float64), kernel, mode="same")
    out = np.full_like(probs, np.nan)
    out[valid] = num[valid] / np.maximum(den[valid, None], 1e-9)
    return out


def segments(probs: np.ndarray, fps: float, class_names: list[str], person: int, smooth_s: float = 1.0,
             threshold: float = 0.4, min_len_s: float = 0.5) -> list[dict]:
    """(T, C) per-frame probabilities of one person -> [{person, start_s, end_s, label, score}]."""
    fps = fps or 30.0
    p = smooth(probs, max(1, int(round(smooth_s * fps))))
    valid = np.isfinite(p).all(axis=1)
    best = np.where(valid, np.nan_to_num(p).argmax(axis=1), -1)
    score = np.where(valid, np.nan_to_num(p).max(axis=1), 0.0)
    labels = [None if not v else (class_names[b] if s >= threshold else UNKNOWN) for v, b, s in zip(valid, best, score)]
    runs: list[list] = []  # [label, start, end, scores]
    for t, label in enumerate(labels):
        if runs and runs[-1][0] == label and runs[-1][2] == t:
            runs[-1][2] = t + 1
            runs[-1][3].append(score[t])
        else:
            runs.append([label, t, t + 1, [score[t]]])
    min_len = max(1, int(round(min_len_s * fps)))
    merged: list[list] = []
    for run in runs:
        short = run[2] - run[1] < min_len and run[0] is not None
        if short and merged and merged[-1][0] is not None and merged[-1][2] == run[1]:
            merged[-1][2] = run[2]
            merged[-1][3] += run[3]
            continue
        if merged and merged[-1][0] == run[0] and merged[-1][2] == run[1]:
            merged[-1][2] = run[2]
            merged[-1][3] += run[3]
            continue
        merged.append(run)
    if len(merged) > 1 and merged[0][0] is not None and merged[0][2] - merged[0][1] < min_len \
            and merged[1][0] is not None and merged[1][1] == merged[0][2]:
        merged[1][1] = merged[0][1]
        merged[1][3] = merged[0][3] + merged[1][3]
        merged.pop(0)
    return [dict(person=person, start_s=round(a / fps, 2), end_s=round(b / fps, 2), label=label,
                 score=round(float(np.mean(s)), 4)) for label, a, b, s in merged if label is not None]


def segments_table(segs: list[dict]) -> str:
    """The segments as a table for the terminal (labels come from a model file: control characters escaped)."""
    lines = [f"{'person':>6}  {'start s':>7}  {'end s':>7}  {'score':>6}  label"]
    lines += [f"{s['person']:>6}  {s['start_s']:7.2f}  {s['end_s']:7.2f}  {s['score']:6.2f}  {printable(s['label'])}"
              for s in segs]
    return "\n".join(lines)


def draw_timeline(segs: list[dict], duration_s: float, path: str | Path, title: str = "") -> None:
    """A strip per person, one colour per label, time in seconds: who does what when."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches
    import matplotlib.pyplot as plt

    persons = sorted({s["person"] for s in segs})
    labels = sorted({s["label"] for s in segs})
    cmap = plt.get_cmap("tab10")
    colour = {label: ("0.8" if label == UNKNOWN else cmap(i % 10)) for i, label in enumerate(labels)}
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.5 * max(1, len(persons))), dpi=100)
    for row, person in enumerate(persons):
        for s in (x for x in segs if x["person"] == person):
            ax.broken_barh([(s["start_s"], s["end_s"] - s["start_s"])], (row - 0.4, 0.8), color=colour[s["label"]])
    ax.set_yticks(range(len(persons)), [f"person {p}" for p in persons])
    ax.set_xlim(0, max(duration_s, 1e-3))
    ax.set_xlabel("time (s)")
    ax.set_title(title)
    handles = [matplotlib.patches.Patch(color=colour[label], label=label) for label in labels]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    try:
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png")
    except OSError as e:  # its filename would be the temp file's: name the user's
        raise ValueError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        plt.close(fig)
