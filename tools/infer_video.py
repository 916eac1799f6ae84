#!/usr/bin/env python
"""Recognise the actions in an ordinary video with a PG-GCN checkpoint (CPU is enough).

    python tools/infer_video.py clip.mp4 [--checkpoint model.pth] [--json out.json] [--out overlay.mp4]
    python tools/infer_video.py 0 | rtsp://host/stream | clip.mp4 --live  [--max-seconds 60] [--json events.jsonl]
    python tools/infer_video.py clip.mp4 --backend onnx --checkpoint model.onnx   (tools/export_onnx.py makes it)

What it does: decodes the clip, finds and follows everyone in it, each person in a crop of their own
(MediaPipe PoseLandmarker, offline; up to 4 at once, with stable person ids through hugs), maps each person's 2D keypoints and 3D joints to the checkpoint's joint layout (NTU-25
or Kinect v1 20), builds the model inputs with the checkpoint config's own test pipeline, and runs PG-GCN
on overlapping windows of --window frames every --stride frames. Each window feeds the model the person(s)
seen most in it, as many as the model was trained with (NW-UCLA: 1; NTU: 2); frames where a person is
absent are zeros, as in training. Each person also gets labels of their own: a one-person model sees every
person present in at least 30 % of a window on their own, a two-person model sees the window's pair together. It prints the top-k labels for the whole clip (the mean of the window
probabilities), the persons found and the speed. For speed, the landmarker sees every 2nd frame of videos
at >= 20 fps (the frames between are interpolated; --pose-every 1 for all), the people's landmarkers run on
--workers threads, and the model loads in a child process.

--json writes the same as data:
  {"video", "frames", "fps", "width", "height",
   "persons": [{"id", "frames_present", "predictions": [...] (that person's clip-level top-k),
                "timeline": [{"start", "end", "label", "class_id", "score"}] (that person's windows)}],
   "predictions": [{"label", "class_id", "score"}]  (whole clip, best first),
   "windows": [{"start", "end", "persons", "predictions": [...],
                "per_person": [{"person", "predictions"}]}]  (end exclusive),
   "segments": [{"person", "start_s", "end_s", "label", "score"}]  (per person, smoothed: pipeline/inference/timeline.py),
   "model": {"file", "runtime"}  (the file that labelled it, and "torch" or "onnxruntime"),
   "timings": {"startup_s", "pose_s", "pose_fps", "model_s", "overlay_s", "total_s", "frames_per_s"}}
--out writes the video (mp4v) with the skeletons, person ids and the current window's label drawn on it,
with the input's frame count.

Live (a camera index such as 0, an rtsp:// or http(s):// stream, or a file with --live, played at its own
frame rate): people are followed as the frames come, frames the CPU has no time for are dropped (and
counted), and every --stride the last window is labelled; each person's label is printed when it changes,
with its latency (arrival of the window's last frame -> label printed). --json then appends JSON lines: a
"start" line, one "label" line per change ({"event", "time_s", "person", "label", "class_id", "score",
"latency_s", "frame"}) and an "end" line with the run's figures (frames captured/processed/dropped,
latency median/p90, lag). --max-seconds stops it; Ctrl-C ends it cleanly with the files written.

--backend: where a checkpoint X.pth has an ONNX twin X.onnx beside it, exported from it by
tools/export_onnx.py (which records X.pth's SHA-256 in it), the default `auto` runs the twin on onnxruntime:
the same logits, and the start-up of a second instead of torch's three (the shipped checkpoints come with
theirs). A twin exported from another version of X.pth is passed over, with a note on how to re-export.
`--backend torch` always runs PyTorch; `--backend onnx` runs an .onnx file (or X.pth's twin) and refuses a
stale twin; an ONNX file's preprocessing comes from its own metadata.

Errors (missing or unreadable video, no frames, nobody found in the clip, a checkpoint that is missing or
belongs to another model) are one line on stderr and exit code 2. Without a checkpoint it says how to get
one: `make train CONFIG=configs/pggcn_nwucla_default.py`, then copy its final checkpoint (last.pth) to
checkpoints/pggcn_nwucla_default.pth or pass --checkpoint.
"""
from __future__ import annotations


import argparse
import os
import sys
import time
from pathlib import Path

_STARTED = time.perf_counter()
os.environ.setdefault("GLOG_minloglevel", "2")  # quiet mediapipe's start-up logs
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None) -> argparse.Namespace:
    from pipeline.cli import ArgumentParser
    from pipeline.inference.runtime import BACKENDS
    from pipeline.inference.video import DEFAULT_CHECKPOINT, DEFAULT_WINDOW, MAX_POSE_WIDTH

    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", help="input video (any format OpenCV/decord reads: mp4, avi, ...), a camera index (0) "
                                 "or a stream URL (rtsp://, http://)")
    p.add_argument("--checkpoint", default=None,
                   help=f"PG-GCN checkpoint (default: {DEFAULT_CHECKPOINT.relative_to(DEFAULT_CHECKPOINT.parents[1])}; "
                        "with --backend onnx an exported .onnx file, default: the same name with .onnx)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="auto (default): the checkpoint's verified ONNX twin on onnxruntime where there is one, "
                        "else PyTorch; torch: always PyTorch; onnx: an exported .onnx file (or the twin)")
    p.add_argument("--live", action="store_true",
                   help="play a video file live: at its own frame rate, dropping frames when inference falls behind "
                        "(camera indices and stream URLs are always live)")
    p.add_argument("--max-seconds", type=float, default=None, help="live: stop after this many seconds")
    p.add_argument("--json", metavar="OUT.json", help="write the results as JSON (atomically)")
    p.add_argument("--out", metavar="OVERLAY.mp4", help="write the video with skeletons, ids and labels drawn")
    p.add_argument("--timeline-png", metavar="TIMELINE.png",
                   help="draw who does what when: one strip per person, a colour per label, time in seconds")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--topk", type=int, default=5, help="labels to report (default: 5)")
    p.add_argument("--window", type=int, default=None,
                   help=f"window length in frames (default: the config's clip length, else {DEFAULT_WINDOW})")
    p.add_argument("--stride", type=int, default=None, help="frames between window starts (default: window/2)")
    p.add_argument("--pose-width", type=int, default=MAX_POSE_WIDTH,
                   help=f"decode frames at most this wide for pose estimation (default: {MAX_POSE_WIDTH})")
    p.add_argument("--pose-every", type=int, default=None,
                   help="run the landmarker on every n-th frame and interpolate the rest "
                        "(default: 2 for videos at >= 20 fps, else 1)")
    p.add_argument("--workers", type=int, default=None, help="threads for the people's landmarkers (default: min(2, cores))")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help="keep the native libraries' logs on stderr")
    return p.parse_args(argv)


def _main(argv=None) -> int:
    args = parse_args(argv)
    from extract.fileio import (atomic_json_dump, check_output_file, check_regular_output, printable,
                                refuse_overwriting_inputs, refuse_same_outputs)
    from pipeline.inference.video import InferenceError, infer_video, summary_text

    for name in ("topk", "window", "stride", "pose_width", "pose_every", "workers", "max_seconds"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value}")
    from pipeline.inference.video import DEFAULT_CHECKPOINT
    from pipeline.inference.live import check_live_log, is_live_source

    from pipeline.inference.runtime import onnx_twin

    checkpoint = Path(args.checkpoint) if args.checkpoint else DEFAULT_CHECKPOINT
    # every input (the video, the checkpoint or ONNX file and its twin, also the default ones) against every
    # output, by resolved path (links and `..` too); and no two outputs may be one file
    outputs = {"--json": args.json, "--out": args.out, "--timeline-png": args.timeline_png}
    refuse_overwriting_inputs(outputs.values(), [args.video, checkpoint, onnx_twin(checkpoint)])
    refuse_same_outputs(outputs)
    live = args.live or is_live_source(args.video)
    if live and (args.out or args.timeline_png):
        raise ValueError("--out and --timeline-png are for files; live runs print labels and write --json lines")
    if not live and args.max_seconds is not None:
        raise ValueError("--max-seconds is for live runs (a camera, a stream or --live)")
    for out in outputs.values():
        check_output_file(out)
        if not live:  # written atomically: a rename over a device or a pipe would replace it
            check_regular_output(out)
    if live and args.json:
        check_live_log(args.json)  # it appends: only to a file of live events it wrote, or a new one
    if live:
        return _live(args, checkpoint)
    result = infer_video(args.video, checkpoint=checkpoint, device=args.device, backend=args.backend,
                         window=args.window, stride=args.stride, overlay=args.out, progress=not args.quiet,
                         workers=args.workers, pose_width=args.pose_width, pose_every=args.pose_every,
                         started=_STARTED, on_note=_note)
    if args.json:
        try:
            atomic_json_dump(result.to_json(args.topk), args.json)
        except OSError as e:
            raise InferenceError(f"{args.json}: cannot write ({e.strerror or e})") from None
    if args.timeline_png:
        from pipeline.inference.timeline import draw_timeline

        draw_timeline(result.segments, result.frames / max(result.fps, 1e-6), args.timeline_png,
                      title=Path(args.video).name)
    print(summary_text(result, args.topk))
    for out in outputs.values():
        if out:
            print(f"wrote {printable(out)}")
    return 0


def _note(line: str) -> None:
    print(f"note: {line}", file=sys.stderr, flush=True)


def _live(args, checkpoint) -> int:
    """A camera, a stream or a file played live: labels printed (and appended to --json) as they change."""
    from extract.fileio import printable
    from pipeline.inference.video import DEFAULT_WINDOW
    from pipeline.inference.live import LiveSource, run_live
    from pipeline.inference.runtime import open_model

    predictor, choice = open_model(checkpoint, args.backend, args.device)
    if choice.note:
        _note(choice.note)
    if choice.backend == "torch":
        import torch

        torch.set_num_threads(1)  # the model thread shares the CPU with the pose stage, which must keep up
    source = LiveSource(args.video, max_width=args.pose_width)
    print(f"live: {printable(args.video)} ({source.kind}, {source.width}x{source.height} at {source.fps:.1f} fps); "
          + ("Ctrl-C stops" if args.max_seconds is None else f"stopping after {args.max_seconds:g} s"), flush=True)
    # JSON lines, appended (nothing is lost) to a file of live events or a new one (check_live_log)
    created = bool(args.json) and not Path(args.json).exists()
    log = open(args.json, "a", encoding="utf-8") if args.json else None
    try:
        run = run_live(source, predictor, window=args.window, stride=args.stride, max_seconds=args.max_seconds,
                       default_window=DEFAULT_WINDOW, workers=args.workers,
                       on_event=lambda ev: print(ev.text(), flush=True), json_lines=log)
    finally:
        if log is not None:
            log.close()
            if created and os.path.isfile(args.json) and os.path.getsize(args.json) == 0:
                os.unlink(args.json)  # failed before its start line: leave nothing behind
    s = run.summary()
    print(f"stopped by {s['stopped_by']} after {s['seconds']:.1f} s: {s['frames_processed']} of "
          f"{s['frames_captured']} frames processed ({s['dropped_ratio']:.0%} dropped), {s['label_changes']} label "
          f"change(s); latency median {s['latency_median_s']} s, p90 {s['latency_p90_s']} s")
    if args.json:
        print(f"appended {printable(args.json)}")
    return 0


def main(argv=None) -> int:
    from pipeline.cli import run_cli

    return run_cli(_main, argv)


def quiet_native_stderr() -> None:
    """Send what C++ libraries print on fd 2 (mediapipe/absl, TFLite, ffmpeg) to /dev/null; Python's
    own stderr (errors, progress bars, tracebacks) keeps the real one. An error is then one line."""
    real = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(real, "w", buffering=1)


if __name__ == "__main__":
    if "--verbose" not in sys.argv:
        quiet_native_stderr()
    code = main()
    # Everything is written (atomically, fsync'd) and printed: skip the interpreter's teardown of
    # torch and mediapipe, which costs about a second on a small CPU.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
