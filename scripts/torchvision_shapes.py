#!/usr/bin/env python3
"""Writes the parameter and buffer names and shapes of torchvision's reference networks, which
lossgp's model zoo must reproduce exactly (crates/models/tests/zoo.rs reads the file):

    python3 scripts/torchvision_shapes.py > crates/models/tests/data/torchvision-shapes.tsv

Lines are `model<TAB>name<TAB>shape` (shape as `d0xd1x...`, `-` for a scalar); batch norm's
`num_batches_tracked` counters are left out (lossgp's momentum is fixed, so it keeps none).
Checked with torch 2.9.0 and torchvision 0.24.0.
"""
import torchvision.models as models
import torchvision.models.segmentation as segmentation

NETWORKS = {
    "resnet18": lambda: models.resnet18(weights=None),
    "resnet50": lambda: models.resnet50(weights=None),
    "inception-v3:aux=true": lambda: models.inception_v3(weights=None, aux_logits=True, init_weights=False),
    "fcn": lambda: segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=21),
    "deeplabv3": lambda: segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21),
}

for name, build in NETWORKS.items():
    for key, tensor in build().state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        shape = "x".join(str(d) for d in tensor.shape) or "-"
        print(f"{name}\t{key}\t{shape}")
