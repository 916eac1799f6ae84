#!/usr/bin/env python
"""Draw one sample's per-joint heatmaps over its RGB frame (PNG): see what the pose stream sees.

  python tools/render_heatmaps.py --annotations data/ntu60/annotations.pkl --video S001C001P001R001A001_rgb.avi \
      --out docs/heatmap_overlay.png [--sample NAME] [--frame N]
"""
import argparse
import sys
from pathlib import Path

from pipeline.cli import ArgumentParser, run_cli


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--annotations", type=Path, required=True)
    p.add_argument("--video", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sample", help="frame_dir of the record (default: the video's sample name)")
    p.add_argument("--frame", type=int, help="frame index (default: the middle)")
    a = p.parse_args(argv)
    import cv2
    import numpy as np

    from extract.draw import heatmap_overlay
    from extract.video import iter_frames
    from pipeline.data.annotations import load_annotations
    from extract.fileio import atomic_open, check_output_file, refuse_overwriting_inputs

    refuse_overwriting_inputs([a.out], [a.annotations, a.video])
    check_output_file(a.out)
    data = load_annotations(a.annotations)
    name = a.sample or a.video.name.split("_rgb")[0].split(".")[0]
    recs = [r for r in data["annotations"] if r["frame_dir"] == name]
    if not recs:
        raise ValueError(f"{a.annotations}: no record {name!r}")
    rec = recs[0]
    if rec.get("pose_keypoint") is None:
        raise ValueError(f"{a.annotations}: record {name} has no pose fields (extracted with POSE=none?)")
    frames = rec["pose_keypoint"].shape[1]
    t = a.frame if a.frame is not None else frames // 2
    if not 0 <= t < frames:
        raise ValueError(f"--frame {t}: record {name} has frames 0..{frames - 1}")
    frame = next((f for i, f in enumerate(iter_frames(a.video, rgb=False)) if i == t), None)
    if frame is None:
        raise ValueError(f"{a.video}: has no frame {t}")
    # crop around the person (the clip's confident keypoints, padded) and scale to 540 px high
    kp, sc = rec["pose_keypoint"][0], rec["pose_score"][0]
    pts = kp[sc > 0.3]
    if len(pts) < 2:
        raise ValueError(f"{a.annotations}: record {name} has no confident keypoints to draw")
    lo, hi = pts.min(0), pts.max(0)
    cx, cy = (lo + hi) / 2
    side_h = (hi - lo)[1] * 1.3
    side_w = max((hi - lo)[0] * 1.3, side_h * 0.75)
    x0, y0 = int(max(0, cx - side_w / 2)), int(max(0, cy - side_h / 2))
    x1, y1 = int(min(frame.shape[1], cx + side_w / 2)), int(min(frame.shape[0], cy + side_h / 2))
    s = 540 / (y1 - y0)
    small = cv2.resize(frame[y0:y1, x0:x1], (int((x1 - x0) * s), 540), interpolation=cv2.INTER_AREA)
    shift = np.array([x0, y0], np.float32)
    kin = (rec["kinect_color"][0, t] - shift) * s if rec.get("kinect_color") is not None else None
    img = heatmap_overlay(small, (kp[t] - shift) * s, sc[t], kin, kp, sc, rec.get("layout", "ntu25"),
                          sigma_px=12.0)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError(f"{a.out}: PNG encoding failed")
    with atomic_open(a.out, "wb") as f:
        f.write(buf.tobytes())
    print(f"wrote {a.out} ({name}, frame {t})")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
