"""`make bench-train`: does the data loader starve the model? Training samples/s with the real NW-UCLA
pipeline (DataLoader workers + transforms + model step) against the model alone on the same batches
(pre-loaded in memory), in one run, alternating. It also times the same loader with one worker process,
the reason the NW-UCLA configs use none on a 2-core CPU (the worker takes a core from the model).
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
    from pipeline.config import load_config
    from pipeline.engine.annotation_file import ensure_annotations
    from pipeline.engine.trainer import TRAIN_DEFAULTS, build_loaders

    cfg = load_config(CONFIG)
    loader, _ = build_loaders(cfg, ensure_annotations(cfg))
    workers = {**TRAIN_DEFAULTS, **cfg.train}["num_workers"]
    other = 1 if workers == 0 else 0
    cfg_other = load_config(CONFIG, {"train.num_workers": other})
    loader_other, _ = build_loaders(cfg_other, ensure_annotations(cfg_other))
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
    def timed(batches) -> float:
        t, n = time.perf_counter(), 0
        for _, b in zip(range(STEPS), batches):
            n += step(b)
        return n / (time.perf_counter() - t)

    loaded, loaded_other, alone = [], [], []
    for r in range(3):
        loaded.append(timed(iter(loader)))
        loaded_other.append(timed(iter(loader_other)))
        alone.append(timed(cached))
        print(f"round {r + 1}: loader ({workers} workers) + model {loaded[-1]:.1f}, loader ({other} workers) + model "
              f"{loaded_other[-1]:.1f}, model alone {alone[-1]:.1f} samples/s", flush=True)
    lo, lo2, mo = (float(np.median(v)) for v in (loaded, loaded_other, alone))
    finish("train", dict(loader_sps=round(lo, 1), model_sps=round(mo, 1), ratio=round(lo / mo, 3),
                         **{f"loader_{other}_workers_sps": round(lo2, 1),
                            f"ratio_{other}_workers": round(lo2 / mo, 3)},
                         setting=f"{CONFIG.name}, batch {cfg.train.batch_size}, {workers} loader worker(s), CPU"))


if __name__ == "__main__":
    main()
