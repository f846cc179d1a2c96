#!/usr/bin/env python3
"""The training benchmarks' PyTorch contender: a network of lossgp's zoo written in PyTorch (or
taken from torchvision, for the ResNets lossgp reproduces), the same training step, eager.

Called by `cargo bench --bench training` (the small CNN), `cargo bench --bench models` (the
CIFAR-scale networks) and `cargo bench --bench gpu` (ResNet-18, `--device auto`); prints
`device=<where it ran>` and `seconds_per_step=<median>`.
"""
import argparse
import math
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


def scaled(channels: int, width: float) -> int:
    """A channel count times `width`, halves rounded up as Rust's `round` does, at least 1."""
    return max(1, math.floor(channels * width + 0.5))


def conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, padding: int = 0) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


class InceptionSmall(nn.Module):
    """The small Inception of Zhang et al. (crates/models/src/inception.rs)."""

    PLAN = [(32, 32), (32, 48), (0, 80), (112, 48), (96, 64), (80, 80), (48, 96), (0, 96), (176, 160), (176, 160)]

    def __init__(self, channels: int, classes: int, width: float) -> None:
        super().__init__()
        s = lambda c: scaled(c, width)
        c = s(96)
        self.stem = conv_bn(channels, c, 3, padding=1)
        self.blocks = nn.ModuleList()
        for a, b in self.PLAN:
            if a == 0:
                self.blocks.append(nn.ModuleList([conv_bn(c, s(b), 3, stride=2), nn.MaxPool2d(3, 2)]))
                c += s(b)
            else:
                self.blocks.append(nn.ModuleList([conv_bn(c, s(a), 1), conv_bn(c, s(b), 3, padding=1)]))
                c = s(a) + s(b)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for left, right in self.blocks:
            x = torch.cat([left(x), right(x)], 1)
        return self.fc(x.mean((2, 3)))


class CifarBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(c_in, c_out, 3, stride, 1),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.stride, self.extra = stride, c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return torch.relu(self.body(x) + shortcut)


def cifar_resnet(channels: int, classes: int, n: int, width: float) -> nn.Module:
    """He et al.'s CIFAR ResNet with option A shortcuts (crates/models/src/resnet.rs)."""
    s = lambda c: scaled(c, width)
    layers, c = [conv_bn(channels, s(16), 3, padding=1)], s(16)
    for stage in range(3):
        for i in range(n):
            stride = 2 if i == 0 and stage > 0 else 1
            layers.append(CifarBlock(c, s(16 << stage), stride))
            c = s(16 << stage)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))


def build(model: str, channels: int, side: int, classes: int) -> nn.Module:
    """`small-cnn`, `inception-cifar[:width=W]`, `resnet20[:width=W]` or `resnet56[:width=W]`."""
    name, _, options = model.partition(":")
    width = float(dict(o.split("=") for o in options.split(",") if o).get("width", 1))
    if name == "small-cnn":
        return small_cnn(channels, side, classes)
    if name == "inception-cifar":
        return InceptionSmall(channels, classes, width)
    if name in ("resnet20", "resnet56"):
        return cifar_resnet(channels, classes, {"resnet20": 3, "resnet56": 9}[name], width)
    if name in ("resnet18", "resnet34", "resnet50") and channels == 3 and width == 1:
        import torchvision  # lossgp's ImageNet ResNets are torchvision's, name for name

        return getattr(torchvision.models, name)(num_classes=classes)
    raise SystemExit(f"bench_torch.py: no PyTorch version of `{model}`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--model", default="small-cnn")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--side", type=int, default=28)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto (cuda where there is a GPU)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu"))
    model = build(args.model, args.channels, args.side, args.classes).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.empty(args.batch, args.channels, args.side, args.side).uniform_(-1.5, 1.5).to(device)
    labels = torch.randint(0, args.classes, (args.batch,)).to(device)
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
    where = f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f"cpu ({args.threads} threads)"
    print(f"device={where}")
    print(f"seconds_per_step={statistics.median(times)}")


if __name__ == "__main__":
    main()
