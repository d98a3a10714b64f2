"""An example netdsl plugin: the op ``squared_relu`` and the block ``squared_relu_mlp``.

Nothing is registered on import: netdsl reads the entry points of pyproject.toml when a spec names
an op or a block netdsl does not have, and loads ``ops.SQUARED_RELU`` or lists ``blocks/`` then.
"""
