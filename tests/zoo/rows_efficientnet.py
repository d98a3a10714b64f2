"""The EfficientNet (v1) family, B0 to B7 (torchvision.models.efficientnet)."""

from .oracle import ZooModel

ROWS = [
    ZooModel(
        "specs/efficientnet_b0.yaml",
        "efficientnet_b0",
        family="specs/efficientnet.yaml",
        notes="not quick: float64 depthwise convs make its logits test ~10 s on 2 cores (ResNet-18: ~2 s)",
    ),
    ZooModel(
        "specs/efficientnet.yaml",
        "efficientnet_b3",
        variant="efficientnet_b3",
        notes="width 1.2: the 10% rule of _make_divisible raises stage 1 from 16 to 24 channels",
    ),
    ZooModel(
        "specs/efficientnet.yaml",
        "efficientnet_b7",
        variant="efficientnet_b7",
        notes="the largest: 55 blocks, BatchNorm eps 1e-3 / momentum 0.01",
    ),
]
