"""Seed 003's white-patch experiment with netdsl's four white-patch specs: ``python -m
examples.white_patch`` (docs/white_patch.md)."""
