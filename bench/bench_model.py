"""`make bench-model`: PG-GCN (4 streams, heatmap pose) vs mmaction2's ST-GCN, train and inference samples/s.

It also sets the NW-UCLA default model (what infer_video runs) beside its two-stream ensemble in one model:
parameters and samples/s (`nwucla_single_vs_ensemble`; `--nwucla-only` runs just that).

Both at batch 16, 2 persons, 100 frames, 25 joints, 60 classes, on this CPU, in one run: rounds alternate
ours / peer so both see the same machine load, and medians are compared. The peer runs in its own venv
(.bench_venvs/mmaction2, built on first use; mmaction2 is not a project dependency).

It also times our model's inference in torch against its ONNX export in onnxruntime (the torch-free
deployment path, pipeline/inference/onnx_predictor.py), same inputs, eval mode, alternating rounds, medians:
`ours_infer_torch_vs_onnxruntime`. `python -m bench.bench_model --onnx-only` runs just that (no peer venv)
and adds it to the existing bench/results/model.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time
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


def ours_torch_vs_onnxruntime(rounds: int = 7) -> dict:
    """Inference samples/s of our model in torch and in onnxruntime (CPU provider, default threads), on
    the inputs `ours` uses, measured in alternating rounds (ITERS forward passes each); medians."""
    import numpy as np
    import onnxruntime as ort

    from pipeline.inference.onnx_export import trace_to_onnx

    torch.manual_seed(0)
    model = build_model(dict(num_classes=60)).eval()
    x = torch.randn(BATCH, 3, FRAMES, JOINTS, PERSONS)
    pose = torch.rand(BATCH, 3, FRAMES, JOINTS, PERSONS)
    session = ort.InferenceSession(trace_to_onnx(model, x.numpy(), pose.numpy()), providers=["CPUExecutionProvider"])
    feeds = {"skeleton": x.numpy(), "pose": pose.numpy()}

    def torch_run():
        with torch.inference_mode():
            return model(x, pose).numpy()

    def ort_run():
        return session.run(None, feeds)[0]

    diff = float(np.abs(torch_run() - ort_run()).max())  # also the warm-up of both
    rates: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
    for r in range(rounds):
        for name, fn in (("torch", torch_run), ("onnxruntime", ort_run)) if r % 2 == 0 else \
                (("onnxruntime", ort_run), ("torch", torch_run)):
            t = time.perf_counter()
            for _ in range(ITERS):
                fn()
            rates[name].append(BATCH * ITERS / (time.perf_counter() - t))
        print(f"round {r + 1}: PG-GCN inference torch {rates['torch'][-1]:.1f} / onnxruntime "
              f"{rates['onnxruntime'][-1]:.1f} samples/s", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    return dict(torch_infer_samples_per_s=round(med["torch"], 2),
                onnxruntime_infer_samples_per_s=round(med["onnxruntime"], 2),
                onnxruntime_over_torch=round(med["onnxruntime"] / med["torch"], 3),
                max_abs_logit_diff=diff, rounds=rounds,
                per_round={k: [round(x, 1) for x in v] for k, v in rates.items()},
                setting=f"eval mode, batch {BATCH}, {PERSONS} persons, {FRAMES} frames, {JOINTS} joints, CPU; torch "
                        f"{torch.get_num_threads()} threads, onnxruntime {ort.__version__} default intra-op threads",
                date=time.strftime("%Y-%m-%d"))


NWUCLA_CONFIGS = {"single": "configs/pggcn_nwucla_default.py", "ensemble": "configs/pggcn_nwucla_ensemble.py",
                  "joined_2x_clip_32": "configs/pggcn_nwucla_t32.py"}
JOINED = {"joined_2x_clip_32": 2}  # an Ensemble of this many of the config's models (tools/make_ensemble.py)


def nwucla_models(rounds: int = 3) -> dict:
    """The default NW-UCLA recipe's model beside its two-stream ensemble in one model
    (configs/pggcn_nwucla_ensemble.py) and two 32-frame models joined into one (the `JOINED` entries):
    parameters, train and inference samples/s at each one's NW-UCLA input (batch 16, 1 person, its config's
    clip length, 20 joints), alternating rounds, medians. Train samples/s are those of the whole model in one
    process (a joined ensemble's members are trained apart, one thread each, which uses 2 cores better)."""
    from pipeline.config import load_config

    ns: dict = {}
    exec(TIMING, ns)
    models, inputs = {}, {}
    for name, config in NWUCLA_CONFIGS.items():
        torch.manual_seed(0)
        cfg = load_config(ROOT / config)
        # 60 outputs: the shared timing code draws 60-class targets (the classifier is 0.1 % of the cost)
        model_cfg = {**cfg.model, "num_classes": 60}
        if name in JOINED:
            model_cfg = dict(type="Ensemble", members=[{}] * JOINED[name], **{k: v for k, v in model_cfg.items()
                                                                              if k != "type"})
        models[name] = build_model(model_cfg)
        t = int(cfg.get("clip_len", 52))
        inputs[name] = (torch.randn(BATCH, 3, t, 20, 1), torch.rand(BATCH, 3, t, 20, 1))
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for r in range(rounds):
        for name in (list(models) if r % 2 == 0 else list(models)[::-1]):
            model = models[name].train()

            def forward(model=model, x=inputs[name][0], pose=inputs[name][1]):
                out = model(x, pose)
                return out if out.dim() == 2 else out.mean(1)  # an ensemble's members in training: (N, K, C)
            rates[name].append(ns["measure"](forward, list(model.parameters()), BATCH, ITERS))
        print(f"round {r + 1}: " + ", ".join(f"{n} train {v[-1][0]:.1f} / infer {v[-1][1]:.1f} samples/s"
                                              for n, v in rates.items()), flush=True)
    out = {}
    for name, model in models.items():
        tr, inf = (statistics.median(c) for c in zip(*rates[name]))
        out[name] = dict(config=NWUCLA_CONFIGS[name], params=sum(p.numel() for p in model.parameters()),
                         train_sps=round(tr, 1), infer_sps=round(inf, 1), frames=int(inputs[name][0].shape[2]))
        if name in JOINED:
            out[name]["members"] = JOINED[name]
    for name, key in (("ensemble", "ensemble_over_single"), ("joined_2x_clip_32", "joined_2x_clip_32_over_single")):
        out[key] = dict(
            params=round(out[name]["params"] / out["single"]["params"], 3),
            train_sps=round(out[name]["train_sps"] / out["single"]["train_sps"], 3),
            infer_sps=round(out[name]["infer_sps"] / out["single"]["infer_sps"], 3))
    out["setting"] = f"batch {BATCH}, 1 person, each config's frames, 20 joints, CPU {torch.get_num_threads()} threads"
    return out


def nwucla_only() -> None:
    """Just the NW-UCLA single model against its ensemble, merged into the existing results."""
    from bench.common import RESULTS

    path = RESULTS / "model.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    cmp = nwucla_models()
    for key in ("ensemble_over_single", "joined_2x_clip_32_over_single"):
        e = cmp[key]
        print(f"NW-UCLA {key.replace('_', ' ')}: x{e['params']} parameters, train x{e['train_sps']}, "
              f"inference x{e['infer_sps']} samples/s")
    finish("model", {**figures, "nwucla_single_vs_ensemble": cmp})


def _onnx_figures(cmp: dict) -> dict:
    return dict(ours_infer_torch_vs_onnxruntime=cmp,
                onnxruntime_infer_samples_per_s=cmp["onnxruntime_infer_samples_per_s"])


def onnx_only() -> None:
    """Just the torch / onnxruntime comparison, merged into the existing results (all other keys kept)."""
    from bench.common import RESULTS

    path = RESULTS / "model.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    cmp = ours_torch_vs_onnxruntime()
    print(f"PG-GCN inference: onnxruntime x{cmp['onnxruntime_over_torch']} of torch "
          f"(max |logit difference| {cmp['max_abs_logit_diff']:.1e})")
    finish("model", {**figures, **_onnx_figures(cmp)})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx-only", action="store_true", help="only torch vs onnxruntime inference (no peer venv)")
    p.add_argument("--nwucla-only", action="store_true",
                   help="only the NW-UCLA default model against its ensemble (no peer venv)")
    a = p.parse_args()
    if a.onnx_only:
        return onnx_only()
    if a.nwucla_only:
        return nwucla_only()
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
    figures.update(_onnx_figures(ours_torch_vs_onnxruntime()))
    figures["nwucla_single_vs_ensemble"] = nwucla_models()
    finish("model", figures)


if __name__ == "__main__":
    main()
