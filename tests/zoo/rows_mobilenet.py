"""The MobileNet family (torchvision.models.mobilenetv2 and mobilenetv3)."""

from .oracle import ZooModel

#: torchvision's options of the MobileNetV3 builders (segmentation backbones use the last two)
V3_OPTIONS = {"width_mult": 0.75, "reduced_tail": True, "dilated": True}

ROWS = [
    ZooModel("specs/mobilenet_v2.yaml", "mobilenet_v2", quick=True),
    ZooModel(
        "specs/mobilenet_v3_large.yaml", "mobilenet_v3_large", family="specs/mobilenet_v3.yaml", quick=True
    ),
    ZooModel("specs/mobilenet_v3.yaml", "mobilenet_v3_small", variant="mobilenet_v3_small"),
    ZooModel(
        "specs/mobilenet_v3.yaml",
        "mobilenet_v3_large",
        variant="mobilenet_v3_large",
        kwargs=V3_OPTIONS,
        overrides=V3_OPTIONS,
        notes="width_mult 0.75 (_make_divisible channels), halved and dilated last stage",
    ),
]
