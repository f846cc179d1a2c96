#!/usr/bin/env python3
"""Re-train the best loss of lossgp search runs in PyTorch, on seeds no search used, paired with
cross entropy and NGL: the search benchmark's second yardstick (scripts/bench-search measures
with lossgp's own trainer; this one with another framework's, as the search issue's first check did).

    scripts/gpu-backends python3 scripts/heldout_torch.py RUN[:MINUTES] ... \
        [--seeds 101,102,103,104,105] [--data-dir /usr/share/datasets/fashion-mnist] [--json]

RUN is a run directory of `scripts/bench-search` (its `summary-MINUTES.json`; without `:MINUTES`
every `summary-*.json` in it) or a `lossgp search --json` summary file. The loss trained is the
hall of fame's leader, through lossgp's own PyTorch export (its `pytorch` field), so this also
checks that export. The protocol is bench-plain.toml's, written independently in PyTorch:
Fashion-MNIST, a stratified subset of 10,000 training and 2,000 validation images of the
training split (drawn once with --split-seed), the plain network (conv 3x3 32 - ReLU - max pool -
conv 3x3 64 - ReLU - max pool - linear, PyTorch's default initialisation), one epoch, batch 128,
Adam 1e-3; fitness = validation accuracy after the epoch. Pixels are scaled to [0, 1] and
standardised with Fashion-MNIST's mean 0.2860 and std 0.3530, as lossgp's loader does.

Differences are in points (accuracy x 100), paired per seed: mean, sd, and the paired t-test's
two-sided p-value (scipy, if installed). Seeds are PyTorch seeds, unrelated to lossgp's.
"""
import argparse
import glob
import gzip
import json
import os
import statistics
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MEAN, STD = 0.2860, 0.3530
TRAIN, VALIDATION, CLASSES = 10_000, 2_000, 10


def read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load(data_dir: str, split_seed: int):
    """A stratified subset: TRAIN + VALIDATION images, the same share of each class."""
    images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
    rng = np.random.RandomState(split_seed)
    train, validation = [], []
    for c in range(CLASSES):
        members = rng.permutation(np.flatnonzero(labels == c))
        train.extend(members[: TRAIN // CLASSES])
        validation.extend(members[TRAIN // CLASSES : (TRAIN + VALIDATION) // CLASSES])

    def tensors(index):
        index = rng.permutation(np.array(index))
        x = torch.from_numpy(images[index].astype(np.float32) / 255.0)
        return ((x - MEAN) / STD).unsqueeze(1).contiguous(), torch.from_numpy(labels[index].astype(np.int64))

    return tensors(train), tensors(validation)


def plain_network() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, CLASSES),
    )


def train(loss_fn, data, seed: int) -> float:
    """Validation accuracy after one epoch; 0 if the loss or the logits stop being finite."""
    (x, y), (xv, yv) = data
    torch.manual_seed(seed)
    net = plain_network()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(x), 128):
        batch = order[start : start + 128]
        loss = loss_fn(net(x[batch]), y[batch])
        if not torch.isfinite(loss):
            return 0.0
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        logits = net(xv)
    return 0.0 if not torch.isfinite(logits).all() else (logits.argmax(1) == yv).float().mean().item()


def ngl(logits, target):
    """NGL (paper-facts.md): mean over samples and classes of exp(2.4092 - p(1 + y)) - cos(cos(sin p))."""
    p = torch.softmax(logits, 1)
    y = F.one_hot(target, logits.shape[1]).to(p.dtype)
    return (torch.exp(2.4092 - p * (1 + y)) - torch.cos(torch.cos(torch.sin(p)))).mean()


def summaries(arguments):
    """(label, summary) for each RUN[:MINUTES] argument."""
    for arg in arguments:
        path, _, minutes = arg.partition(":")
        if os.path.isfile(path):
            yield path, json.load(open(path))
            continue
        files = [os.path.join(path, f"summary-{minutes}.json")] if minutes else sorted(
            glob.glob(os.path.join(path, "summary-*.json")), key=lambda f: int(f.rsplit("-", 1)[1][:-5]))
        if not files or not all(os.path.isfile(f) for f in files):
            sys.exit(f"heldout_torch: no summary-*.json in {path} (give a bench-search run directory or a summary file)")
        for f in files:
            yield f"{path}:{f.rsplit('-', 1)[1][:-5]}", json.load(open(f))


def paired(accuracies, reference):
    d = [100 * (a - r) for a, r in zip(accuracies, reference)]
    try:
        from scipy import stats

        p = float(stats.ttest_rel(accuracies, reference).pvalue)
    except ImportError:
        p = None
    return {"differences": d, "mean": statistics.mean(d), "sd": statistics.stdev(d) if len(d) > 1 else 0.0, "p": p}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN[:MINUTES]")
    parser.add_argument("--seeds", default="101,102,103,104,105")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--split-seed", type=int, default=12345)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args()
    data_dir = args.data_dir or next(
        (d for d in (os.path.join(os.environ.get("LOSSGP_DATA_DIR", ""), "fashion-mnist"), "/usr/share/datasets/fashion-mnist")
         if os.path.isfile(os.path.join(d, "train-images-idx3-ubyte.gz"))), None)
    if data_dir is None:
        sys.exit("heldout_torch: Fashion-MNIST not found; give --data-dir (apt install dataset-fashion-mnist)")
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    data = load(data_dir, args.split_seed)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)
    ce_acc = [train(F.cross_entropy, data, s) for s in seeds]
    ngl_acc = [train(ngl, data, s) for s in seeds]
    log(f"CE {statistics.mean(ce_acc):.4f} {ce_acc}\nNGL {statistics.mean(ngl_acc):.4f} {ngl_acc}")
    rows = []
    for label, summary in summaries(args.runs):
        if not summary.get("best"):
            log(f"{label}: no hall of fame yet, skipped")
            continue
        best = summary["best"][0]
        namespace = {}
        exec(best["pytorch"], namespace)  # lossgp's export: one function found_loss_1(logits, target)
        loss_fn = next(v for k, v in namespace.items() if k.startswith("found_loss"))
        accuracy = [train(loss_fn, data, s) for s in seeds]
        rows.append({"run": label, "loss": best["loss"], "accuracy": accuracy,
                     "vs_ce": paired(accuracy, ce_acc), "vs_ngl": paired(accuracy, ngl_acc)})
        log(f"{label}: {statistics.mean(accuracy):.4f} {best['loss']}")
    if args.json:
        json.dump({"seeds": seeds, "ce": ce_acc, "ngl": ngl_acc, "losses": rows}, sys.stdout, indent=1)
        return
    fmt = lambda v: f"{v['mean']:+.2f} ± {v['sd']:.2f}" + (f" (p {v['p']:.3f})" if v["p"] is not None else "")
    print(f"PyTorch, {len(seeds)} seeds {args.seeds}: CE {statistics.mean(ce_acc):.4f}, NGL {statistics.mean(ngl_acc):.4f}")
    print(f"{'run':<34} {'accuracy':>8}  {'Δ vs CE (pts)':<24} {'Δ vs NGL (pts)':<24} loss")
    for r in rows:
        print(f"{r['run']:<34} {statistics.mean(r['accuracy']):>8.4f}  {fmt(r['vs_ce']):<24} {fmt(r['vs_ngl']):<24} {r['loss']}")


if __name__ == "__main__":
    main()
