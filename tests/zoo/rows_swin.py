"""The Swin Transformer family (torchvision.models.swin_transformer, v1)."""

from .oracle import ZooModel

ROWS = [
    ZooModel(
        "specs/swin_t.yaml",
        "swin_t",
        family="specs/swin.yaml",
        notes="pads to whole 7x7 windows; the shift is 0 where one window covers the map",
    ),
]
