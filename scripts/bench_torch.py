#!/usr/bin/env python3
"""The training benchmark's PyTorch contender: lossgp's small CNN, the same step, on the CPU.

Called by `cargo bench --bench training`; prints `seconds_per_step=<median>`.
"""
import argparse
import statistics
import time

import torch
from torch import nn


def small_cnn(channels: int, side: int, classes: int) -> nn.Module:
    """The network of crates/models/src/small_cnn.rs."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (side // 4) ** 2, 128),
        nn.ReLU(),
        nn.Linear(128, classes),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--side", type=int, default=28)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = small_cnn(1, args.side, args.classes)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.empty(args.batch, 1, args.side, args.side).uniform_(-1.5, 1.5)
    labels = torch.randint(0, args.classes, (args.batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.item()
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(f"seconds_per_step={statistics.median(times)}")


if __name__ == "__main__":
    main()
