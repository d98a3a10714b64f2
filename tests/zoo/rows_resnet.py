"""The ResNet family (torchvision.models.resnet)."""

from .oracle import ZooModel

ROWS = [
    ZooModel("specs/resnet18.yaml", "resnet18", family="specs/resnet.yaml", quick=True),
    ZooModel("specs/resnet50.yaml", "resnet50", family="specs/resnet.yaml"),
    ZooModel("specs/resnet.yaml", "resnet152", variant="resnet152", notes="the deepest: 50 chained blocks"),
]
