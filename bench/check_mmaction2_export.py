"""`make check-mmaction2-export`: our 2D pose, exported by tools/convert.py, loads in mmaction2's own PoseDataset.

Extracts the real NTU sample with MediaPipe (pipeline/datasets/runner.py), converts the annotation file with
`tools/convert.py --to mmaction2-2d`, then in the peer venv that `make bench-model` builds (mmaction2 1.2.0,
not a project dependency) builds mmaction2's PoseDataset with its standard 2D skeleton test pipeline
(UniformSampleFrames, PoseDecode, PoseCompact, Resize, GeneratePoseTarget, FormatShape, PackActionInputs) and
draws a sample. Ends with one JSON line (bench/results/mmaction2_export.json).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.bench_model import ensure_peer  # noqa: E402
from bench.common import finish  # noqa: E402

PEER_CHECK = """
import json, sys
import numpy as np
np.Inf = np.inf  # mmaction2 1.2.0's PoseCompact still says np.Inf, which numpy 2 removed (their bug, not the file's)
from mmengine.registry import init_default_scope
import mmaction.datasets.transforms  # noqa: registers the pose transforms
from mmaction.datasets import PoseDataset
init_default_scope('mmaction')
pipeline = [
    dict(type='UniformSampleFrames', clip_len=48, num_clips=1, test_mode=True),
    dict(type='PoseDecode'),
    dict(type='PoseCompact', hw_ratio=1., allow_imgpad=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='GeneratePoseTarget', with_kp=True, with_limb=False),
    dict(type='FormatShape', input_format='NCTHW_Heatmap'),
    dict(type='PackActionInputs'),
]
ds = PoseDataset(sys.argv[1], pipeline=pipeline, split='xsub_train', test_mode=True)
sample = ds[0]
print(json.dumps(dict(samples=len(ds), inputs_shape=list(sample['inputs'].shape),
                      label=int(sample['data_samples'].gt_label.item()),
                      heat_max=float(sample['inputs'].max()))))
"""


def main() -> None:
    from pipeline.datasets.ntu.source import ExtractConfig, run

    peer = ensure_peer()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "root"
        for sub, pattern in (("nturgb+d_skeletons", "*.skeleton"), ("nturgb+d_rgb", "*_rgb.avi")):
            (root / sub).mkdir(parents=True)
            for f in (ROOT / "tests/assets/ntu_sample").glob(pattern):
                (root / sub / f.name).symlink_to(f)
        result = run(ExtractConfig(dataset="ntu60", data_root=root, out=tmp / "out", pose="mediapipe"), progress=False)
        assert result.merged, result.failures
        export = tmp / "mm2d.pkl"
        subprocess.run([sys.executable, "tools/convert.py", "--to", "mmaction2-2d", str(result.merged), str(export)],
                       cwd=ROOT, check=True)
        out = subprocess.run([str(peer), "-c", PEER_CHECK, str(export)], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"mmaction2 could not load the export:\n{out.stderr[-3000:]}")
        figures = json.loads(out.stdout.strip().splitlines()[-1])
    finish("mmaction2_export", dict(peer="mmaction2 1.2.0 PoseDataset", **figures,
                                    ok=figures["samples"] == 1 and figures["heat_max"] > 0.5))


if __name__ == "__main__":
    main()
