"""The torch backend, the only layer that imports torch at module level: lowering to
``torch.fx``, initialisers, the soundness run, example inputs and ``torch.compile``."""
