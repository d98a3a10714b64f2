"""Torch-free: files (the file policy), the positioned YAML loader, the pydantic schema and its
validation, ``${...}`` expressions and the block library (both kinds of alias)."""
