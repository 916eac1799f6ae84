"""`make bench-train`: does the data loader starve the model? Training samples/s with the real NW-UCLA
pipeline (DataLoader workers + transforms + model step) against the model alone on the same batches
(pre-loaded in memory), in one run, alternating.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import finish  # noqa: E402

CONFIG = ROOT / "configs/pggcn_nwucla_xview.py"
STEPS = 30


def main() -> None:
    import numpy as np
    import torch

    from models import build_model
    from pipeline.training import TRAIN_DEFAULTS, build_loaders, ensure_annotations, load_config

    cfg = load_config(CONFIG)
    loader, _ = build_loaders(cfg, ensure_annotations(cfg), distributed=False)
    workers = {**TRAIN_DEFAULTS, **cfg.train}["num_workers"]
    model = build_model(cfg.model).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(batch) -> int:
        loss = torch.nn.functional.cross_entropy(model(batch["skeleton"], batch["pose"]), batch["label"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return len(batch["label"])

    it = iter(loader)
    cached = [next(it) for _ in range(STEPS)]
    step(cached[0])
    loaded, alone = [], []
    for r in range(3):
        it = iter(loader)
        t, n = time.perf_counter(), 0
        for _ in range(STEPS):
            n += step(next(it))
        loaded.append(n / (time.perf_counter() - t))
        t, n = time.perf_counter(), 0
        for b in cached:
            n += step(b)
        alone.append(n / (time.perf_counter() - t))
        print(f"round {r + 1}: loader + model {loaded[-1]:.1f}, model alone {alone[-1]:.1f} samples/s", flush=True)
    lo, mo = float(np.median(loaded)), float(np.median(alone))
    finish("train", dict(loader_sps=round(lo, 1), model_sps=round(mo, 1), ratio=round(lo / mo, 3),
                         setting=f"{CONFIG.name}, batch {cfg.train.batch_size}, {workers} loader worker(s), CPU"))


if __name__ == "__main__":
    main()
