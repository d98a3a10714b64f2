"""Tools over the pipeline: diagrams and the generators of docs/ops.md and docs/blocks.md."""
