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
    ZooModel(
        "specs/vit.yaml",
        "vit_b_32",
        variant="vit_b_32",
        kwargs={"dropout": 0.1, "attention_dropout": 0.2},
        overrides={"dropout": 0.1, "attention_dropout": 0.2},
        sizes=((224, 224),),
        notes="fine-tuning dropout rates: torch's MHA dropout is the fused attention's dropout_p",
    ),
]
