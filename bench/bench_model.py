"""`make bench-model`: PG-GCN (4 streams, heatmap pose) vs mmaction2's ST-GCN, train and inference samples/s.

Both at batch 16, 2 persons, 100 frames, 25 joints, 60 classes, on this CPU, in one run: rounds alternate
ours / peer so both see the same machine load, and medians are compared. The peer runs in its own venv
(.bench_venvs/mmaction2, built on first use; mmaction2 is not a project dependency).
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import finish  # noqa: E402
from models import build_model  # noqa: E402

PEER_VENV = ROOT / ".bench_venvs/mmaction2"
BATCH, PERSONS, FRAMES, JOINTS, ITERS = 16, 2, 100, 25, 3

TIMING = textwrap.dedent("""
    import time, torch
    def measure(forward, params, batch, iters):
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
        y = torch.randint(0, 60, (batch,))
        def train_step():
            loss = torch.nn.functional.cross_entropy(forward(), y)
            opt.zero_grad(); loss.backward(); opt.step()
        train_step()
        t = time.perf_counter()
        for _ in range(iters): train_step()
        train = batch * iters / (time.perf_counter() - t)
        with torch.no_grad():
            forward()
            t = time.perf_counter()
            for _ in range(iters): forward()
        return train, batch * iters / (time.perf_counter() - t)
""")

PEER = TIMING + textwrap.dedent(f"""
    import sys, types, json, warnings
    warnings.filterwarnings('ignore')
    sys.modules['mmaction.models.localizers'] = types.ModuleType('mmaction.models.localizers')
    from mmaction.models.backbones import STGCN
    from mmaction.models.heads import GCNHead
    torch.manual_seed(0)
    backbone = STGCN(graph_cfg=dict(layout='nturgb+d', mode='stgcn_spatial'))
    head = GCNHead(num_classes=60, in_channels=256)
    net = torch.nn.Sequential()
    x = torch.randn({BATCH}, {PERSONS}, {FRAMES}, {JOINTS}, 3)
    params = list(backbone.parameters()) + list(head.parameters())
    backbone.train(); head.train()
    tr, inf = measure(lambda: head(backbone(x)), params, {BATCH}, {ITERS})
    print(json.dumps(dict(train=tr, infer=inf, params=sum(p.numel() for p in params))))
""")


def ensure_peer() -> Path:
    py = PEER_VENV / "bin/python"
    if py.exists() and subprocess.run([py, "-c", "import mmaction"], capture_output=True).returncode == 0:
        return py
    print("building the peer venv (mmaction2 1.2.0) in", PEER_VENV, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    pip = [str(py), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["torch==2.13.0", "numpy<2.5"], check=True)
    subprocess.run(pip + ["mmaction2==1.2.0", "mmengine==0.10.7", "mmcv-lite==2.1.0", "einops", "scipy",
                          "importlib_metadata"], check=True)
    return py


def ours() -> tuple[float, float, int]:
    ns: dict = {}
    exec(TIMING, ns)
    torch.manual_seed(0)
    model = build_model(dict(num_classes=60)).train()
    x = torch.randn(BATCH, 3, FRAMES, JOINTS, PERSONS)
    pose = torch.rand(BATCH, 3, FRAMES, JOINTS, PERSONS)
    tr, inf = ns["measure"](lambda: model(x, pose), list(model.parameters()), BATCH, ITERS)
    model.eval()
    return tr, inf, sum(p.numel() for p in model.parameters())


def main() -> None:
    torch.set_num_threads(torch.get_num_threads())
    peer_py = ensure_peer()
    rows = {"ours": [], "peer": []}
    params = peer_params = 0
    for r in range(3):
        tr, inf, params = ours()
        rows["ours"].append((tr, inf))
        out = subprocess.run([str(peer_py), "-c", PEER], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"peer failed: {out.stderr.strip().splitlines()[-1]}")
        peer = json.loads(out.stdout.strip().splitlines()[-1])
        peer_params = peer["params"]
        rows["peer"].append((peer["train"], peer["infer"]))
        print(f"round {r + 1}: PG-GCN train {tr:.1f} / infer {inf:.1f} samples/s; "
              f"ST-GCN train {peer['train']:.1f} / infer {peer['infer']:.1f} samples/s", flush=True)
    med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
    figures = dict(params=params, peer_params=peer_params, train_sps=round(med["ours"][0], 2),
                   infer_sps=round(med["ours"][1], 2), peer_train_sps=round(med["peer"][0], 2),
                   peer_infer_sps=round(med["peer"][1], 2),
                   train_ratio=round(med["ours"][0] / med["peer"][0], 3),
                   infer_ratio=round(med["ours"][1] / med["peer"][1], 3),
                   setting=f"batch {BATCH}, {PERSONS} persons, {FRAMES} frames, {JOINTS} joints, CPU "
                           f"{torch.get_num_threads()} threads")
    print(f"PG-GCN {params / 1e6:.2f} M params vs ST-GCN {peer_params / 1e6:.2f} M: train x{figures['train_ratio']}, "
          f"inference x{figures['infer_ratio']}")
    finish("model", figures)


if __name__ == "__main__":
    main()
