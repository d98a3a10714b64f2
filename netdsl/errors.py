"""The error hierarchy, kept importable as ``netdsl.errors`` (it lives in ``netdsl.core.errors``)."""

from netdsl.core.errors import (
    BuildError,
    ContextFrame,
    ErrorCollector,
    ExprError,
    GraphError,
    NetdslError,
    NetdslErrors,
    ResolveError,
    ShapeError,
    SourceLoc,
    SpecSyntaxError,
    SpecValidationError,
    UsageError,
)

__all__ = [
    "BuildError",
    "ContextFrame",
    "ErrorCollector",
    "ExprError",
    "GraphError",
    "NetdslError",
    "NetdslErrors",
    "ResolveError",
    "ShapeError",
    "SourceLoc",
    "SpecSyntaxError",
    "SpecValidationError",
    "UsageError",
]
