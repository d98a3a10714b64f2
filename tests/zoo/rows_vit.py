"""The Vision Transformer family (torchvision.models.vision_transformer)."""

from .oracle import ZooModel

ROWS = [
    ZooModel(
        "specs/vit_b_16.yaml",
        "vit_b_16",
        family="specs/vit.yaml",
        sizes=((224, 224),),
        notes="position embeddings learned for 224x224 only (torchvision asserts the input size)",
    ),
]
