"""`make bench-timeline` (after `make bench-gmdcsa`): the per-person timeline against GMDCSA24's time-stamped
ground truth.

Each clip's CSV row says when what happens, e.g. `Falling (SW)[3.4 to 6]; Sitting[0 to 3.4]`. Every clip is
labelled by video inference (the same code as tools/infer_video.py, segments included) with the fine-tuned
model of the leave-one-subject-out fold that held that clip's subject out, so no clip is seen in training.
Frames inside a `Fall...` interval are `fall`, frames in any other interval `adl`. Reported for the main actor
(the longest track): frame accuracy over frames with both a ground truth and a segment, and, on fall clips,
the IoU in time of the predicted `fall` segments with the ground-truth falling interval. The model was trained
on clip-level labels only (a fall clip is `fall` from its first frame), which this measures honestly.
"""
from __future__ import annotations

import csv
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import finish  # noqa: E402

INTERVAL = re.compile(r"([A-Za-z][^\[;]*?)\s*\[\s*([\d.]+)\s*to\s*([\d.]+)\s*\]")


def ground_truth(root: Path) -> dict[str, list[tuple[str, float, float]]]:
    """'Subject 3/Fall/19' -> [(label, start_s, end_s), ...] from the per-subject CSVs."""
    out = {}
    for table in sorted(root.glob("Subject */*.csv")):
        kind = table.stem  # Fall or ADL
        with open(table, newline="", encoding="utf-8", errors="replace") as f:
            for row in csv.reader(f):
                if not row or not row[0].strip().endswith(".mp4"):
                    continue
                spans = [("fall" if m[1].strip().lower().startswith("fall") else "adl", float(m[2]), float(m[3]))
                         for m in INTERVAL.finditer(row[-1])]
                out[f"{table.parent.name}/{kind}/{row[0].strip()[:-4]}"] = spans
    return out


def main() -> None:
    import numpy as np

    from pipeline.inference.video import infer_video, load_predictor

    root = ROOT.parent / "shared/data/gmdcsa24" if len(sys.argv) < 2 else Path(sys.argv[1])
    folds = ROOT / "work_dirs/bench_gmdcsa"
    truth = ground_truth(root)
    per_clip = []
    predictors = {}
    for clip in sorted(root.glob("Subject */*/*.mp4")):
        key = f"{clip.parts[-3]}/{clip.parts[-2]}/{clip.stem}"
        subject = clip.parts[-3].replace(" ", "")
        ckpt = folds / f"fold_{subject}" / "finetune" / "last.pth"
        if not ckpt.exists():
            sys.exit(f"{ckpt}: run `make bench-gmdcsa` first (its fold models are what this measures)")
        if subject not in predictors:
            predictors[subject] = load_predictor(ckpt)
        result = infer_video(clip, predictor=predictors[subject], progress=False)
        main_id = max(result.persons, key=lambda p: p["frames_present"])["id"]
        fps, frames = result.fps, result.frames
        t = (np.arange(frames) + 0.5) / fps
        gt = np.full(frames, "", dtype=object)
        for label, a, b in truth.get(key, []):
            gt[(t >= a) & (t <= b) & (gt == "")] = label
        pred = np.full(frames, "", dtype=object)
        for seg in result.segments:
            if seg["person"] == main_id:
                pred[(t >= seg["start_s"]) & (t < seg["end_s"])] = seg["label"]
        both = (gt != "") & (pred != "")
        acc = float((gt[both] == pred[both]).mean()) if both.any() else float("nan")
        row = dict(clip=key, kind=clip.parts[-2], frame_acc=acc)
        if (gt == "fall").any():
            inter = ((gt == "fall") & (pred == "fall")).sum()
            union = ((gt == "fall") | (pred == "fall")).sum()
            row["fall_iou"] = float(inter / union)
        per_clip.append(row)
        print(f"{key}: frame accuracy {acc:.1%}" + (f", fall IoU {row['fall_iou']:.2f}" if "fall_iou" in row else ""),
              flush=True)
    falls = [r for r in per_clip if r["kind"] == "Fall"]
    adls = [r for r in per_clip if r["kind"] == "ADL"]
    figures = dict(clips=len(per_clip), model="fine-tuned fold model with the clip's subject held out",
                   frame_acc_mean=round(statistics.mean(r["frame_acc"] for r in per_clip), 4),
                   fall_clips_frame_acc=round(statistics.mean(r["frame_acc"] for r in falls), 4),
                   adl_clips_frame_acc=round(statistics.mean(r["frame_acc"] for r in adls), 4),
                   fall_iou_mean=round(statistics.mean(r["fall_iou"] for r in falls if "fall_iou" in r), 4))
    finish("timeline", figures)


if __name__ == "__main__":
    main()
