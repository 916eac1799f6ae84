#!/usr/bin/env python
"""Build annotations.pkl from an NTU RGB+D folder: Kinect skeletons (+ 2D pose from the RGB videos).

  make extract DATASET=ntu120 DATA_ROOT=/data/nturgb+d OUT=data/ntu120 POSE=mediapipe WORKERS=8
  python tools/extract.py --dataset ntu60 --data-root DIR --out DIR --pose none
  torchrun --nproc_per_node=4 tools/extract.py ...   # or --shard i/n in a cluster array job

DATA_ROOT holds nturgb+d_skeletons/*.skeleton and nturgb+d_rgb/*_rgb.avi. Re-running resumes: finished
samples are skipped, failed ones retried. Exit code 0 when every sample is extracted, 1 when some failed
(listed at the end and in OUT/failures.json), 2 on bad arguments.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extract.runner import ExtractConfig, parse_shard, run  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["ntu60", "ntu120"], required=True)
    p.add_argument("--data-root", type=Path, required=True, help="folder with nturgb+d_skeletons/ and nturgb+d_rgb/")
    p.add_argument("--out", type=Path, required=True, help="output folder (annotations.pkl, parts/, reports)")
    p.add_argument("--pose", choices=["none", "mediapipe", "mmpose"], default="mediapipe",
                   help="2D pose backend run on the RGB videos; none = skeletons only")
    p.add_argument("--workers", type=int, default=1, help="processes on this machine")
    p.add_argument("--shard", default=None, help="i/n: process every n-th sample starting at i "
                   "(default: RANK/WORLD_SIZE from torchrun, else all)")
    p.add_argument("--pose-config", help="mmpose config file (POSE=mmpose)")
    p.add_argument("--pose-checkpoint", help="mmpose checkpoint file (POSE=mmpose)")
    p.add_argument("--limit", type=int, help="only the first N samples (smoke test)")
    args = p.parse_args()
    try:
        cfg = ExtractConfig(dataset=args.dataset, data_root=args.data_root, out=args.out, pose=args.pose,
                            workers=max(1, args.workers), shard=parse_shard(args.shard),
                            pose_config=args.pose_config, pose_checkpoint=args.pose_checkpoint, limit=args.limit)
        if cfg.pose == "mmpose" and not (cfg.pose_config and cfg.pose_checkpoint):
            raise ValueError("POSE=mmpose needs POSE_CONFIG=<mmpose config> and POSE_CHECKPOINT=<weights file>")
        result = run(cfg)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"extracted {len(result.done)}, already done {len(result.skipped)}, failed {len(result.failures)}")
    for name, reason in sorted(result.failures.items()):
        print(f"  FAILED {name}: {reason}")
    if result.merged:
        print(f"wrote {result.merged}")
        report = result.merged.parent / "alignment_report.json"
        if report.exists():
            import json
            summary = json.loads(report.read_text())["summary"]
            print("alignment vs Kinect: " + ", ".join(f"{k}={v:.3g}" for k, v in summary.items()))
            print(f"per-clip report: {report}")
    else:
        print(f"{result.pending} samples still pending in other shards; the last shard to finish merges "
              f"(or re-run without --shard)")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
