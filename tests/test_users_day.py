"""A user's day with their own clips, end to end through the tools, where every step is a second run of the one
before: extract a folder, correct one label, extract again, train, train again in the same WORK_DIR on other
data, fine-tune from best.pth. Each step must give the right data or a clear one-line refusal, and nothing
the user already has may change under them."""
from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import pytest
from _tools import cut_clip, run_tool

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = ROOT / "tests/assets/videos/group_exercise_3p_384x288.avi"
WALK = ROOT / "tests/assets/videos/people_walk_to_table_768x432.mp4"
CONFIG = ROOT / "configs/pggcn_videos.py"
FAST = ["--cfg-options", "train.epochs=1", "train.repeat=1", "train.warmup_epochs=0", "train.num_workers=0"]




def _write_labels(root: Path, labels: dict[str, str]) -> None:
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split"])
        for i, (clip, label) in enumerate(sorted(labels.items())):
            w.writerow([clip, label, "val" if i % 3 == 2 else "train"])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _labels(ann: Path) -> dict[str, str]:
    from pipeline.data.annotations import load_annotations

    data = load_annotations(ann)
    return {r["frame_dir"]: data["label_names"][r["label"]] for r in data["annotations"]}


def test_a_users_day(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the user works in their own folder, with relative paths
    root = Path("clips")
    root.mkdir()
    labels = {}
    for i in range(3):
        labels[cut_clip(EXERCISE, root / f"ex{i}.mp4", 20 + 80 * i, 30).name] = "exercise"
        labels[cut_clip(WALK, root / f"walk{i}.mp4", 40 + 45 * i, 30).name] = "exercise"  # a slip: these walk
    _write_labels(root, labels)

    # 1. extract the folder
    rc, out, err = run_tool(capsys, "extract_dataset", "--dataset", "videos", "--data-root", root, "--out", "ds")
    assert rc == 0, out + err
    assert set(_labels(Path("ds/annotations.pkl")).values()) == {"exercise"}

    # 2. correct the labels, 3. extract again: the new labels, without another pose run
    import pipeline.datasets.videos as vd

    monkeypatch.setattr(vd, "clip_record", lambda *a, **k: pytest.fail("the pose ran again"))
    labels.update({f"walk{i}.mp4": "walk" for i in range(3)})
    _write_labels(root, labels)
    rc, out, err = run_tool(capsys, "extract_dataset", "--dataset", "videos", "--data-root", root, "--out", "ds")
    assert rc == 0, out + err
    assert "3 label(s) changed" in out
    assert _labels(Path("ds/annotations.pkl")) == {f"ex{i}": "exercise" for i in range(3)} | {
        f"walk{i}": "walk" for i in range(3)}

    # 4. train
    rc, out, err = run_tool(capsys, "train", CONFIG, "--ann-file", "ds/annotations.pkl", "--work-dir", "w", *FAST)
    assert rc == 0, out + err
    from pipeline.checkpoint import load_checkpoint

    assert load_checkpoint(Path("w/best.pth"))["meta"]["class_names"] == ["exercise", "walk"]

    # 5. train again in the same WORK_DIR with other data: refused, the model kept
    import shutil

    shutil.copytree("ds", "ds2")
    _write_labels(root, {**labels, "ex0.mp4": "stretch"})
    rc, out, err = run_tool(capsys, "extract_dataset", "--dataset", "videos", "--data-root", root, "--out", "ds2")
    assert rc == 0 and "1 label(s) changed" in out, out + err
    kept = {n: _sha(Path("w") / n) for n in ("best.pth", "last.pth")}
    rc, out, err = run_tool(capsys, "train", CONFIG, "--ann-file", "ds2/annotations.pkl", "--work-dir", "w", *FAST)
    assert rc == 2 and "Traceback" not in err
    assert err.count("error:") == 1 and "another annotation file" in err and "--restart" in err
    assert {n: _sha(Path("w") / n) for n in kept} == kept

    # 6. fine-tune from best.pth into a new WORK_DIR: it starts from those weights; best.pth is untouched
    rc, out, err = run_tool(capsys, "train", CONFIG, "--ann-file", "ds2/annotations.pkl", "--work-dir", "ft",
                            "--load-from", "w/best.pth", *FAST)
    assert rc == 0, out + err
    assert "all but the classifier" in out and _sha(Path("w/best.pth")) == kept["best.pth"]
    meta = load_checkpoint(Path("ft/last.pth"))["meta"]
    assert meta["class_names"] == ["exercise", "stretch", "walk"]
    assert meta["run"]["load_from"]["path"] == str(Path("w/best.pth").resolve())
    # ... and the same fine-tune command again is the same run: nothing to train, nothing changed
    before = _sha(Path("ft/last.pth"))
    rc, out, err = run_tool(capsys, "train", CONFIG, "--ann-file", "ds2/annotations.pkl", "--work-dir", "ft",
                            "--load-from", "w/best.pth", *FAST)
    assert rc == 0 and "already holds the finished run" in out and _sha(Path("ft/last.pth")) == before
    assert os.listdir("w") and not any(p.startswith("w.old") for p in os.listdir("."))
