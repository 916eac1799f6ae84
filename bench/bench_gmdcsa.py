"""`make bench-gmdcsa [GMDCSA_ROOT=../shared/data/gmdcsa24]`: fall vs. daily activity on real clips, leave one
subject out.

GMDCSA24 (E. Alam, A. Sufian, P. Dutta, M. Leo, I. A. Hameed, "GMDCSA24: A Dataset for Human Fall Detection in
Videos", Data in Brief 2024; MIT licence; DOI 10.5281/zenodo.12921216): 4 people, one room, `Subject N/{Fall,ADL}/
NN.mp4`. The folder is read as the user's own clips would be (`make extract DATASET=videos`, a labels.csv with
path, label, person), once; then for each subject a fold trains on the other three and tests on that one, from
scratch and fine-tuned from the shipped default model (`LOAD_FROM`), through `tools/train.py` and `tools/test.py`
with configs/pggcn_videos.py. A small set (the copy here has 23 of the dataset's 160 clips): each fold tests
on 2 to 10 clips, so one clip moves a fold by 10 to 50 points. Ends with one JSON line (bench/results/gmdcsa.json).
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import finish  # noqa: E402

CONFIG = "configs/pggcn_videos.py"
DEFAULT_MODEL = "checkpoints/pggcn_nwucla_default.pth"


def labels_csv(src: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip in sorted(src.glob("Subject */*/*.mp4")):
        subject, kind = clip.parts[-3], clip.parts[-2]
        link = folder / subject / kind / clip.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(clip.resolve())
        rows.append(dict(path=str(link.relative_to(folder)), label="fall" if kind == "Fall" else "adl",
                         person=subject))
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "label", "person"])
        w.writeheader()
        w.writerows(rows)
    return folder


def _recorded_sha(run: Path, key: str) -> str | None:
    """The SHA-256 a run (finished or stopped) recorded for one of its inputs in its run record (`ann_file`: the
    annotations it trained on; `load_from`: the checkpoint it was fine-tuned from), else None."""
    from pipeline.engine.run_record import RECORD

    try:
        return (json.loads((run / RECORD).read_text()).get(key) or {}).get("sha256")
    except (OSError, ValueError):
        return None


def main() -> None:
    from extract.fileio import atomic_pickle_dump, safe_pickle_load
    from pipeline.datasets.videos import TRACKING
    from pipeline.engine.run_record import RECORD, file_digest

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=ROOT.parent / "shared/data/gmdcsa24")
    a = p.parse_args()
    if not a.root.is_dir():
        sys.exit(f"{a.root}: GMDCSA24 not found (download it, then GMDCSA_ROOT=<folder>)")
    work = ROOT / "work_dirs/bench_gmdcsa"
    folder = labels_csv(a.root, work / "clips")
    out = work / "extracted"
    t = time.perf_counter()
    # always through the extraction itself: it reuses what was made the same way (its `tracking` record) and
    # makes again what was not, so a tracker change never leaves the bench scoring old records
    subprocess.run([sys.executable, "tools/extract_dataset.py", "--dataset", "videos", "--data-root", str(folder),
                    "--out", str(out), "--workers", "1"], cwd=ROOT)  # a clip that fails is named by it, not fatal
    extract_min = (time.perf_counter() - t) / 60
    try:
        tracked = json.loads((out / "annotations.json").read_text()).get("tracking")
    except (OSError, ValueError):
        tracked = None
    if tracked != TRACKING:
        sys.exit(f"{out}: its annotations.pkl was not made by this extraction (tracked {tracked}, not {TRACKING})")
    data = safe_pickle_load(out / "annotations.pkl")
    source_sha = file_digest(out / "annotations.pkl")["sha256"]
    subjects = sorted({r["frame_dir"].split("/")[0] for r in data["annotations"]})
    figures: dict = dict(clips=len(data["annotations"]), subjects=len(subjects), classes=data["label_names"],
                         extract_min=round(extract_min, 1))
    default_sha = file_digest(ROOT / DEFAULT_MODEL)["sha256"]
    for mode in ("scratch", "finetune"):
        accs, minutes, tested = [], [], []
        for subject in subjects:
            names = [r["frame_dir"] for r in data["annotations"]]
            split = dict(train=[n for n in names if not n.startswith(subject + "/")],
                         val=[n for n in names if n.startswith(subject + "/")])
            fold = work / f"fold_{subject.replace(' ', '')}"
            ann = fold / "annotations.pkl"
            made_from = fold / "source.sha256"  # the extraction this fold's annotations were cut from
            stale = not ann.exists() or not made_from.exists() or made_from.read_text().strip() != source_sha
            if stale:
                atomic_pickle_dump(dict(split=split, annotations=data["annotations"],
                                        label_names=data["label_names"]), ann)
                made_from.write_text(source_sha + "\n")
            run = fold / mode
            t = time.perf_counter()
            cmd = [sys.executable, "tools/train.py", CONFIG, "--ann-file", str(ann), "--work-dir", str(run)]
            if mode == "finetune":
                cmd += ["--load-from", DEFAULT_MODEL]
            restart = ((run / "done").exists() or (run / RECORD).exists()) and (  # finished or stopped
                _recorded_sha(run, "ann_file") != file_digest(ann)["sha256"]  # trained on other records
                or (mode == "finetune" and _recorded_sha(run, "load_from") != default_sha))  # other default model
            if restart:
                cmd.append("--restart")  # the old run is moved aside, not lost
                (run / "done").unlink(missing_ok=True)
            if not (run / "done").exists():
                subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
                (run / "done").write_text(f"{(time.perf_counter() - t) / 60:.2f}\n")
            subprocess.run([sys.executable, "tools/test.py", CONFIG, "--ann-file", str(ann), "--checkpoint",
                            str(run / "last.pth"), "--work-dir", str(run / "eval")], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            top1 = json.loads((run / "eval/metrics.json").read_text())["top1"]
            accs.append(top1)
            minutes.append(float((run / "done").read_text()))
            tested.append(len(split["val"]))
            print(f"{mode} {subject}: top-1 {top1:.1%} on {len(split['val'])} clips", flush=True)
        figures[f"{mode}_top1_mean"] = round(statistics.mean(accs), 4)
        figures[f"{mode}_top1_per_fold"] = [round(x, 4) for x in accs]
        figures[f"{mode}_train_min_mean"] = round(statistics.mean(minutes), 2)
        figures["test_clips_per_fold"] = tested
        # clip-weighted: every test clip counts once
        figures[f"{mode}_top1_over_clips"] = round(sum(x * n for x, n in zip(accs, tested)) / sum(tested), 4)
    finish("gmdcsa", figures)


if __name__ == "__main__":
    main()
