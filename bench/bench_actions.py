"""`make bench-actions [GMDCSA_ROOT=../shared/data/gmdcsa24] [CHECKPOINT=other.pth]`: what NW-UCLA models
call GMDCSA24's time-stamped daily activities on real video (issue #23: a person walking across a room was
called "throw" or "carry", a person sitting down "stand up").

GMDCSA24's CSVs time-stamp each clip's sub-activities (`Walking[0 to 3]; Sitting[3 to 7]`). Every clip is
tracked once with inference's own settings (`track_people`), and each checkpoint labels the same tracks with
inference's own windows and timeline (`label_people`, as `tools/infer_video.py`). For the main actor (the
longest track), every frame inside an activity's interval counts for that activity:
- per activity, the share of its frames given each label (NW-UCLA has "walk around", "sit down", "stand up";
  it has no reading, lying or falling, so those rows only show what the model makes of them);
- `walking_called_walk_around`: the share of walking frames labelled "walk around";
- events: a Sitting interval that starts after the clip's first second is a sit-down, one that ends more than
  a second before the clip's end a stand-up; an event is right when its label ("sit down", "stand up") is
  given to some frame within EVENT_S seconds of it.
The shipped default model labels them, and CHECKPOINT (`--checkpoints A B ...`) beside it on the same tracks. Last line: one
line of JSON, also written to bench/results/actions.json.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.bench_timeline import INTERVAL  # noqa: E402  (GMDCSA24's `Name[a to b]` intervals, one parser)
from bench.common import finish  # noqa: E402

GMDCSA = Path(os.environ.get("GMDCSA_ROOT", ROOT.parent / "shared/data/gmdcsa24"))
EVENT_S = 1.0  # seconds around a sit-down or stand-up in which its label must appear
EVENTS = {"sit down": "sit down", "stand up": "stand up"}


def activities(root: Path) -> dict[Path, list[tuple[str, float, float]]]:
    """clip path -> [(activity, start_s, end_s)] for the clips present, from the per-subject CSVs."""
    out = {}
    for table in sorted(root.glob("Subject */*.csv")):
        with open(table, newline="", encoding="utf-8", errors="replace") as f:
            for row in csv.reader(f):
                if not row or not row[0].strip().endswith(".mp4"):
                    continue
                clip = table.parent / table.stem / row[0].strip()
                if clip.is_file():
                    out[clip] = [(m[1].split("(")[0].strip().capitalize(), float(m[2]), float(m[3]))
                                 for m in INTERVAL.finditer(row[-1])]
    return out


def events(spans: list[tuple[str, float, float]], duration: float) -> list[tuple[str, float]]:
    """(label the model should give, time) for each sit-down and stand-up the intervals show."""
    out = []
    for name, a, b in spans:
        if name != "Sitting":
            continue
        if a > 1.0:
            out.append((EVENTS["sit down"], a))
        if b < duration - 1.0:
            out.append((EVENTS["stand up"], b))
    return out


def main_track_labels(result, fps: float, frames: int) -> list[str | None]:
    """The main actor's (longest track's) label on every frame, from their timeline segments."""
    main = max(result.persons, key=lambda p: p["frames_present"])["id"]
    labels: list[str | None] = [None] * frames
    for seg in result.segments:
        if seg["person"] == main:
            a, b = int(round(seg["start_s"] * fps)), min(frames, int(round(seg["end_s"] * fps)))
            labels[a:b] = [seg["label"]] * max(0, b - a)
    return labels


def score(per_clip: list[tuple[list[tuple[str, float, float]], list[str | None], float]]) -> dict:
    counts: dict[str, Counter] = {}
    right = total = 0
    for spans, labels, fps in per_clip:
        for name, a, b in spans:
            for f in range(int(round(a * fps)), min(len(labels), int(round(b * fps)))):
                counts.setdefault(name, Counter())[labels[f] or "(no label)"] += 1
        for want, t in events(spans, len(labels) / fps):
            lo, hi = max(0, int((t - EVENT_S) * fps)), min(len(labels), int((t + EVENT_S) * fps) + 1)
            total += 1
            right += want in labels[lo:hi]
    table = {name: dict(frames=sum(c.values()), labels={k: round(v / sum(c.values()), 3) for k, v in c.most_common(4)})
             for name, c in sorted(counts.items())}
    walk = counts.get("Walking", Counter())
    return dict(activities=table, walking_frames=sum(walk.values()),
                walking_called_walk_around=round(walk["walk around"] / max(1, sum(walk.values())), 3),
                events_right=right, events=total)


def _name(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv=None) -> None:
    from pipeline.inference.predictor import DEFAULT_CHECKPOINT, load_predictor
    from pipeline.inference.video import label_people, open_video, track_people

    p = argparse.ArgumentParser(description="make bench-actions")
    p.add_argument("--root", type=Path, default=GMDCSA)
    p.add_argument("--checkpoints", nargs="+", type=Path, default=[], help="labelled beside the default model")
    a = p.parse_args(argv)
    a.checkpoints = [DEFAULT_CHECKPOINT, *a.checkpoints]
    clips = activities(a.root)
    if not clips:
        sys.exit(f"bench-actions: no GMDCSA24 clips with time-stamped activities under {a.root}")
    predictors = {_name(c): load_predictor(c) for c in a.checkpoints}
    per_model: dict[str, list] = {name: [] for name in predictors}
    for i, (clip, spans) in enumerate(clips.items(), 1):
        info = open_video(clip)
        poses = track_people(clip, info)
        print(f"[{i}/{len(clips)}] {clip.relative_to(a.root)}: {poses.frames} frames, {len(poses.tracks)} track(s)",
              flush=True)
        if not poses.tracks:
            continue
        for name, pred in predictors.items():
            result = label_people(clip, poses, info["fps"], pred)
            per_model[name].append((spans, main_track_labels(result, info["fps"], poses.frames), info["fps"]))
    figures = {}
    for name, rows in per_model.items():
        figures[name] = score(rows)
        f = figures[name]
        print(f"{name}: walking frames called walk around {f['walking_called_walk_around']:.1%} of "
              f"{f['walking_frames']}; sit-down / stand-up events right {f['events_right']} of {f['events']}")
        for act, row in f["activities"].items():
            print(f"    {act:10s} {row['frames']:5d} frames: " + ", ".join(f"{k} {v:.0%}" for k, v in row["labels"].items()))
    finish("actions", dict(clips=len(clips), event_window_s=EVENT_S, models=figures))


if __name__ == "__main__":
    main()
