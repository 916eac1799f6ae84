#!/usr/bin/env python
"""Build annotations.pkl from an NTU RGB+D folder: Kinect skeletons (+ 2D pose from the RGB videos).

  make extract DATASET=ntu120 DATA_ROOT=/data/nturgb+d OUT=data/ntu120 POSE=mediapipe WORKERS=8
  python tools/extract_dataset.py --dataset ntu60 --data-root DIR --out DIR --pose none
  torchrun --nproc_per_node=4 tools/extract_dataset.py ...   # or --shard i/n in a cluster array job

DATA_ROOT holds nturgb+d_skeletons/*.skeleton and nturgb+d_rgb/*_rgb.avi. Re-running resumes: finished
samples are skipped, failed ones retried. Files that are no sample of the dataset are listed (and written
to OUT/ignored.json). Exit code 0 when every sample is extracted, 1 when some failed (listed at the end
and in OUT/failures.json), 2 on bad arguments or when there is no sample at all (nothing is written then).
"""
import argparse
import json
import sys
from pathlib import Path

from pipeline.datasets.runner import parse_shard
from pipeline.datasets.ntu.source import ExtractConfig, run
from pipeline.datasets.videos import VideoExtractConfig, run_videos
from pipeline.cli import ArgumentParser, run_cli
from extract.fileio import printable

SHOW = 20  # ignored files listed on the terminal (all of them are in OUT/ignored.json)


def _main(argv=None) -> int:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["ntu60", "ntu120", "videos"], required=True,
                   help="videos: a folder of your own labelled clips (labels.csv or one sub-folder per label)")
    p.add_argument("--data-root", type=Path, required=True,
                   help="NTU: the folder with nturgb+d_skeletons/ and nturgb+d_rgb/; videos: the clips' folder")
    p.add_argument("--out", type=Path, required=True, help="output folder (annotations.pkl, parts/, reports)")
    p.add_argument("--pose", choices=["none", "mediapipe", "mmpose"], default="mediapipe",
                   help="2D pose backend run on the RGB videos; none = skeletons only")
    p.add_argument("--workers", type=int, default=2,
                   help="processes on this machine (default: 2, as `make extract`'s WORKERS; 1 for one process)")
    p.add_argument("--shard", default=None, help="i/n: process every n-th sample starting at i "
                   "(default: RANK/WORLD_SIZE from torchrun, else all)")
    p.add_argument("--pose-config", help="mmpose config file (POSE=mmpose)")
    p.add_argument("--pose-checkpoint", help="mmpose checkpoint file (POSE=mmpose)")
    p.add_argument("--limit", type=int, help="only the first N samples (smoke test)")
    p.add_argument("--min-frame-ratio", type=float, default=0.9,
                   help="fail a sample whose RGB video decodes to fewer than this fraction of its skeleton "
                        "frames (default: 0.9)")
    p.add_argument("--keep-parts", action="store_true",
                   help="keep OUT/parts/ after the merge (default: removed, it is as large as the result)")
    args = p.parse_args(argv)
    if args.dataset == "videos":
        result = run_videos(VideoExtractConfig(data_root=args.data_root, out=args.out, workers=args.workers,
                                               shard=parse_shard(args.shard), keep_parts=args.keep_parts))
        root, what = args.data_root, "labelled clip"
    else:
        cfg = ExtractConfig(dataset=args.dataset, data_root=args.data_root, out=args.out, pose=args.pose,
                            workers=args.workers, shard=parse_shard(args.shard),
                            pose_config=args.pose_config, pose_checkpoint=args.pose_checkpoint, limit=args.limit,
                            min_frame_ratio=args.min_frame_ratio, keep_parts=args.keep_parts)
        result = run(cfg)
        root, what = cfg.data_root, f"{cfg.dataset} sample"
    for warning in result.warnings:
        print(f"warning: {printable(warning)}")
    if result.ignored:
        print(f"ignored {len(result.ignored)} file(s) under {printable(str(root))} that are no {what} "
              f"(all in {printable(str(args.out / 'ignored.json'))}):")
        for name, why in sorted(result.ignored.items())[:SHOW]:
            print(f"  {printable(name)}: {why}")
    return _report(result, args.out)


def _report(result, out: Path) -> int:
    print(f"extracted {len(result.done)}, already done {len(result.skipped)}, failed {len(result.failures)}")
    for name, reason in sorted(result.failures.items()):
        print(f"  FAILED {printable(name)}: {printable(reason)}")
    if result.relabelled:
        print(f"{result.relabelled} label(s) changed since the last run (the pose was not extracted again)")
    if result.up_to_date:
        print(f"up to date: {printable(str(result.merged))} already holds every sample with its current label")
    elif result.merged:
        print(f"wrote {printable(str(result.merged))}")
        report = result.merged.parent / "alignment_report.json"
        if report.exists() and result.done:
            summary = json.loads(report.read_text())["summary"]
            print("alignment vs Kinect: " + ", ".join(f"{k}={v:.3g}" for k, v in summary.items()))
            print(f"per-clip report: {printable(str(report))}")
    elif not result.pending:
        print(f"every sample failed: {printable(str(out / 'annotations.pkl'))} not written")
    else:
        print(f"{result.pending} samples still pending in other shards; the last shard to finish merges "
              f"(or re-run without --shard)")
    return 1 if result.failures else 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
