"""Torch-free passes over the IR: resolve (spec -> ``Graph``), shape inference, summary counts and
the memory estimate."""
