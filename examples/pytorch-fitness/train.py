#!/usr/bin/env python3
"""Scores one candidate loss for `lossgp search` by training a PyTorch network with it.

lossgp runs it once per candidate, in the candidate's job folder (see search.toml):

    python3 train.py --loss {loss_py} --seed {seed} --budget {budget} --out {out} --data-dir {data_dir}

and reads {out}/result.json: {"fitness": validation accuracy, ...}. The protocol is that of
scripts/heldout_torch.py (the search benchmark's PyTorch yardstick): Fashion-MNIST's IDX files
read with numpy, a stratified subset of 10,000 training and 2,000 validation images of the
training split (drawn once with --split-seed), the plain network (conv 3x3 32 - ReLU - max pool -
conv 3x3 64 - ReLU - max pool - linear), one epoch, batch 128, Adam 1e-3, pixels standardised
with mean 0.2860 and std 0.3530. A budget below 1 (successive halving's early rungs) trains
that share of the epoch's steps. A loss whose value or logits stop being finite scores 0.

Replace the data, the network and the recipe with your own: lossgp only needs the loss module
(`loss_fn(logits, target)`) to be used, and result.json to be written.
"""
import argparse
import gzip
import importlib.util
import json
import os
import time

import numpy as np
import torch

MEAN, STD = 0.2860, 0.3530
TRAIN, VALIDATION, CLASSES, BATCH = 10_000, 2_000, 10, 128


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load(data_dir, split_seed):
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


def plain_network():
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, CLASSES),
    )


def train(loss_fn, data, seed, budget=1.0):
    """(validation accuracy, steps, status) after the budget's share of one epoch."""
    (x, y), (xv, yv) = data
    torch.manual_seed(seed)
    net = plain_network()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    starts = list(range(0, len(x), BATCH))
    starts = starts[: max(1, round(budget * len(starts)))]
    for start in starts:
        batch = order[start : start + BATCH]
        loss = loss_fn(net(x[batch]), y[batch])
        if not torch.isfinite(loss):
            return 0.0, len(starts), "diverged"
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        logits = net(xv)
    if not torch.isfinite(logits).all():
        return 0.0, len(starts), "diverged"
    return (logits.argmax(1) == yv).float().mean().item(), len(starts), "completed"


def find_data(given):
    """Fashion-MNIST's folder: --data-dir's `fashion-mnist` (or the folder itself), else Debian's."""
    candidates = [os.path.join(given, "fashion-mnist"), given] if given else []
    candidates.append("/usr/share/datasets/fashion-mnist")
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "train-images-idx3-ubyte.gz")):
            return folder
    raise SystemExit(f"Fashion-MNIST's IDX files are not in {candidates} (apt install dataset-fashion-mnist, or lossgp data download fashion-mnist)")


def load_loss(path):
    spec = importlib.util.spec_from_file_location("candidate_loss", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.loss_fn


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss", required=True, help="the candidate's module (lossgp writes loss.py)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--out", required=True, help="the folder result.json goes to")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--split-seed", type=int, default=12345)
    parser.add_argument("--threads", type=int, default=None, help="torch threads [default: OMP_NUM_THREADS or all]")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()
    data = load(find_data(args.data_dir), args.split_seed)
    accuracy, steps, status = train(load_loss(args.loss), data, args.seed, args.budget)
    result = {"fitness": accuracy, "status": status, "steps": steps, "seconds": time.time() - started,
              "torch": torch.__version__, "device": "cpu"}
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
