#!/usr/bin/env python
"""Export a checkpoint to ONNX for inference without PyTorch, and check it against the torch model.

  python tools/export_onnx.py checkpoints/pggcn_nwucla_default.pth            # -> ...default.onnx
  python tools/export_onnx.py run/best.pth --out deploy/pggcn.onnx --opset 17

The file holds the graph (dynamic batch axis; the pose stream's heatmap renderer inside) and, as metadata,
the class names and the checkpoint's test pipeline, so `pipeline.inference.onnx_predictor.load_onnx_predictor(path)`
needs nothing else (onnxruntime and numpy; no torch). Before the file replaces --out, the tool runs torch
and onnxruntime on the same inputs of the checkpoint's shape and prints the largest logit difference;
above 1e-4 it exits with code 2 and writes nothing.
"""
import argparse
import sys
from pathlib import Path

from pipeline.cli import ArgumentParser, run_cli


def _main(argv=None) -> int:
    from pipeline.inference.onnx_export import DEFAULT_OPSET, TOLERANCE

    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a PG-GCN checkpoint (.pth)")
    p.add_argument("--out", type=Path, help="the ONNX file to write (default: the checkpoint's path with .onnx)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    a = p.parse_args(argv)
    out = a.out if a.out is not None else a.checkpoint.with_suffix(".onnx")

    from extract.fileio import printable
    from pipeline.inference.onnx_export import export_onnx

    info = export_onnx(a.checkpoint, out, opset=a.opset, tolerance=TOLERANCE)  # ValueError (exit 2) above it
    shapes = "; ".join(f"{n} {tuple(s)}" for n, s in info["inputs"].items())
    print(f"max |logit difference| torch vs onnxruntime: {info['max_logit_diff']:.2e} (limit {TOLERANCE:g})")
    print(f"wrote {printable(str(out))} ({info['bytes'] / 1e6:.2f} MB, opset {info['opset']}, "
          f"{info['num_classes']} classes, inputs {shapes})")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
