"""`make bench-scale [N=114480]`: NTU-120 at full size on this machine: extraction, store, open, memory, loader.

The tree is synthetic in number only: N real `.skeleton` files under valid NTU-120 names (setups 1-32, cameras,
performers 1-106, both replications, actions 1-120, so every split has members), each a hard link to the
real sample S001C001P001R001A001 (1 body, 103 frames) or to a 2-body file derived from it (the body twice,
the second shifted 0.8 m, a different body id): THE CONTENT REPEATS, the counts and sizes are real. Measured
in one run, with `make extract DATASET=ntu120 POSE=none WORKERS=2` as users run it:
  extraction files/s and the peak RSS of its whole process tree; the store's and the pickle's size and bytes per
  sample; the time and RSS to open the xsub_train split from the store and from the pickle (use_store=False);
  the unique memory (USS, and PSS) of each of 2 DDP ranks x 2 loader workers training from the store; loader
  samples/s (NTU train pipeline, 2 workers) against the NTU model's own training samples/s on this CPU.
Ends with one JSON line, also bench/results/scale.json.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import finish  # noqa: E402

SAMPLE = ROOT / "tests/assets/ntu_sample/S001C001P001R001A001.skeleton"
WORK = ROOT / "work_dirs/bench_scale"
CONFIG = "configs/pggcn_ntu120_xsub.py"


def two_body_file(path: Path) -> Path:
    """The real sample with its body twice (the copy shifted 0.8 m in x, its own body id)."""
    lines = SAMPLE.read_text().splitlines()
    out, i = [lines[0]], 1
    for _ in range(int(lines[0])):
        n = int(lines[i])
        bodies = [lines[i + 1 + b * 27: i + 1 + (b + 1) * 27] for b in range(n)]
        i += 1 + n * 27
        if bodies:
            body = bodies[0]
            info = body[0].split()
            twin = [" ".join(["72057594037931999", *info[1:]]), body[1]]
            for joint in body[2:]:
                v = joint.split()
                twin.append(" ".join([f"{float(v[0]) + 0.8:.7f}", *v[1:]]))
            bodies.append(twin)
        out.append(str(len(bodies)))
        for body in bodies:
            out.extend(body)
    path.write_text("\n".join(out) + "\n")
    return path


def build_tree(n: int) -> Path:
    from pipeline.datasets.ntu.names import missing_skeletons

    root = WORK / f"root_{n}"
    skel = root / "nturgb+d_skeletons"
    if (root / "done").exists():
        return root
    skel.mkdir(parents=True, exist_ok=True)
    two = two_body_file(WORK / "two_bodies.skeleton")
    missing = missing_skeletons("ntu120")
    copies: dict[Path, list] = {SAMPLE: [SAMPLE, 0], two: [two, 0]}  # a file system allows ~65,000 links per inode

    def source(path: Path) -> Path:
        current = copies[path]
        if current[1] >= 60_000:
            current[0] = WORK / f"{path.stem}.{made}.skeleton"
            current[0].write_bytes(path.read_bytes())
            current[1] = 0
        current[1] += 1
        return current[0]

    made = 0
    k = 0
    while made < n:
        s, c, p, r, a = k % 32 + 1, k // 32 % 3 + 1, k // 96 % 106 + 1, k // 10176 % 2 + 1, k // 20352 % 120 + 1
        k += 1
        a = (a + s + p) % 120 + 1  # every action in every split
        name = f"S{s:03d}C{c:03d}P{p:03d}R{r:03d}A{a:03d}"
        if name in missing or (skel / f"{name}.skeleton").exists():
            continue
        os.link(source(two if (50 <= a <= 60 or a >= 106) else SAMPLE), skel / f"{name}.skeleton")
        made += 1
    (root / "done").touch()
    return root


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (MB)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def run_measured(cmd: list[str], **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak tree RSS (MB, sampled every 0.5 s) of a command."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    peak = [0.0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(0.5)

    t = time.perf_counter()
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    watcher.join()
    return time.perf_counter() - t, peak[0], subprocess.CompletedProcess(cmd, proc.returncode, out, err)


OPEN = """
import json, sys, time
from pipeline.config import load_config
from pipeline.data.dataset import SkeletonDataset
cfg = load_config(sys.argv[2])
t = time.perf_counter()
ds = SkeletonDataset(sys.argv[1], "xsub_train", cfg.train_pipeline, use_store=sys.argv[3] == "store")
sec = time.perf_counter() - t
rss = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")][0] / 1024
print(json.dumps(dict(open_s=round(sec, 2), rss_mb=round(rss, 1), samples=len(ds))))
"""

RANKS = """
import json, os, sys, torch, torch.distributed as dist
from pipeline.config import load_config
from pipeline.data.dataset import EpochSampler, SkeletonDataset

def smaps():
    vals = {}
    for line in open("/proc/self/smaps_rollup"):
        parts = line.split()
        if parts[0].rstrip(":") in ("Pss", "Private_Clean", "Private_Dirty"):
            vals[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return dict(uss=vals["Private_Clean"] + vals["Private_Dirty"], pss=vals["Pss"])

def report(worker_id):
    torch.set_num_threads(1)

class Probe(torch.utils.data.Dataset):  # each worker reports its own memory after reading its share
    def __init__(self, ds): self.ds = ds
    def __len__(self): return len(self.ds)
    def __getitem__(self, key):
        out = self.ds[key]
        out["mem"] = torch.tensor([smaps()["uss"], smaps()["pss"]])
        return out

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
cfg = load_config(sys.argv[2])
ds = SkeletonDataset(sys.argv[1], "xsub_train", cfg.train_pipeline)
loader = torch.utils.data.DataLoader(Probe(ds), batch_size=16, num_workers=2, worker_init_fn=report,
                                     sampler=EpochSampler(ds, num_replicas=world, rank=rank))
workers = []
for i, batch in zip(range(40), loader):
    workers.append(batch["mem"][-1].tolist())
mine = smaps()
result = [None] * world
dist.all_gather_object(result, dict(rank=mine, worker_last=workers[-1]))
if rank == 0:
    print("RANKS " + json.dumps(result))
dist.destroy_process_group()
"""

SPEED = """
import json, sys, time, torch
from models import build_model
from pipeline.config import load_config
from pipeline.data.dataset import EpochSampler, SkeletonDataset
torch.set_num_threads(2)
cfg = load_config(sys.argv[2])
ds = SkeletonDataset(sys.argv[1], "xsub_train", cfg.train_pipeline)
loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2, sampler=EpochSampler(ds),
                                     worker_init_fn=lambda i: torch.set_num_threads(1))
it = iter(loader)
batches = [next(it) for _ in range(3)]
t, n = time.perf_counter(), 0
for _, b in zip(range(40), it):
    n += len(b["label"])
loader_sps = n / (time.perf_counter() - t)
model = build_model(cfg.model).train()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
def step(b):
    loss = torch.nn.functional.cross_entropy(model(b["skeleton"], b["pose"]), b["label"])
    opt.zero_grad(); loss.backward(); opt.step()
step(batches[0])
t = time.perf_counter()
for b in batches * 2:
    step(b)
model_sps = 16 * 6 / (time.perf_counter() - t)
print(json.dumps(dict(loader_sps=round(loader_sps, 1), model_sps=round(model_sps, 1))))
"""


def du_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=114_480)
    p.add_argument("--skip-pickle", action="store_true", help="leave out opening the pickle (it needs ~N/20 MB)")
    a = p.parse_args()
    py = sys.executable
    print(f"building {a.n} .skeleton files under valid NTU-120 names (hard links: the content repeats)", flush=True)
    root = build_tree(a.n)
    out = WORK / f"out_{a.n}"
    if not (out / "annotations.pkl").exists():
        sec, peak, proc = run_measured(["make", "-s", "extract", "DATASET=ntu120", f"DATA_ROOT={root}",
                                        f"OUT={out}", "POSE=none", "WORKERS=2", f"VENV={Path(py).parents[1]}"])
        if proc.returncode != 0:
            sys.exit(f"extraction failed:\n{proc.stderr[-3000:]}")
        (WORK / f"extract_{a.n}.json").write_text(json.dumps(dict(seconds=sec, peak_rss_mb=peak)))
    ext = json.loads((WORK / f"extract_{a.n}.json").read_text())
    ann = out / "annotations.pkl"
    samples = json.loads((out / "annotations.json").read_text())["samples"]
    store_mb, pickle_mb = du_mb(out / "annotations.store"), du_mb(ann)
    print(f"extraction: {samples} samples in {ext['seconds'] / 60:.1f} min ({samples / ext['seconds']:.0f} files/s), "
          f"peak RSS {ext['peak_rss_mb']:.0f} MB; store {store_mb:.0f} MB, pickle {pickle_mb:.0f} MB", flush=True)

    def child(code: str, *args: str) -> dict:
        proc = subprocess.run([py, "-c", code, *args], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])

    opened = child(OPEN, str(ann), CONFIG, "store")
    print(f"open xsub_train from the store: {opened}", flush=True)
    pickled = None if a.skip_pickle else child(OPEN, str(ann), CONFIG, "pickle")
    print(f"open xsub_train from the pickle: {pickled}", flush=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = WORK / "ranks.py"
    script.write_text(RANKS)
    proc = subprocess.run([str(Path(py).parent / "torchrun"), "--nproc_per_node=2", f"--master_port={port}",
                           str(script), str(ann), CONFIG], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    ranks = json.loads(proc.stdout.split("RANKS ", 1)[1].splitlines()[0])
    print(f"2 ranks x 2 workers on the store: {ranks}", flush=True)
    speed = child(SPEED, str(ann), CONFIG)
    print(f"loader vs model: {speed}", flush=True)
    figures = dict(
        n=samples, content="repeats (hard links of the real sample and a 2-body file derived from it)",
        extract_files_per_s=round(samples / ext["seconds"], 1), extract_min=round(ext["seconds"] / 60, 1),
        extract_peak_rss_mb=round(ext["peak_rss_mb"]), store_mb=round(store_mb), pickle_mb=round(pickle_mb),
        store_bytes_per_sample=round(store_mb * 2**20 / samples), open_s=opened["open_s"],
        open_rss_mb=opened["rss_mb"], pickle_open_s=pickled and pickled["open_s"],
        pickle_open_rss_mb=pickled and pickled["rss_mb"],
        rank_uss_mb=round(max(r["rank"]["uss"] for r in ranks), 1),
        rank_pss_mb=round(max(r["rank"]["pss"] for r in ranks), 1),
        worker_uss_mb=round(max(r["worker_last"][0] for r in ranks), 1),
        loader_sps=speed["loader_sps"], model_sps=speed["model_sps"],
        loader_over_model=round(speed["loader_sps"] / speed["model_sps"], 2))
    finish("scale", figures)


if __name__ == "__main__":
    main()
