"""The ConvNeXt family (torchvision.models.convnext)."""

from .oracle import ZooModel

ROWS = [
    ZooModel("specs/convnext_tiny.yaml", "convnext_tiny", family="specs/convnext.yaml"),
]
