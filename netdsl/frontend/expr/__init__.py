"""Safe expressions in spec values: ``"${expr}"``, ``"$name"`` and ``"layer_${i}"``.

Our own tokenizer and Pratt parser into frozen AST nodes (:mod:`.syntax`), a tree-walking evaluator
(:mod:`.evaluator`) and the expressions inside spec strings (:mod:`.text`); user text is never
handed to Python. Arithmetic applies the plain operators, so any value with numeric dunders
(symbolic dimensions) works. ``and``/``or`` short-circuit and return an operand, exactly like Python.
"""

from netdsl.frontend.expr.evaluator import evaluate
from netdsl.frontend.expr.syntax import MAX_DEPTH, MAX_INT, MAX_LEN, MAX_SOURCE, Expr, Node, parse
from netdsl.frontend.expr.text import is_expression, referenced_names, resolve_value, simple_name

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "MAX_LEN",
    "MAX_SOURCE",
    "Expr",
    "Node",
    "evaluate",
    "is_expression",
    "parse",
    "referenced_names",
    "resolve_value",
    "simple_name",
]
