"""Resolve pass: validated spec -> IR graph.

Evaluates variables, variants and overrides, expands blocks (inline, library and user) and
repeats, wires nodes by name and checks block parameters and `require:` rules. Errors are
collected so that one run reports all of them.

The pass in modules:

- :mod:`.env`: the environment (variables, variants, --set, block parameters, `require:`), each
  value with its provenance;
- :mod:`.wiring`: `in:` parsed into typed references, the symbol table looked up;
- :mod:`.symbols`: the symbol table's entries (a tagged union);
- :mod:`.order`: topological order and cycles (pure);
- :mod:`.expand`: bodies, nodes and repeats (:mod:`.opnode`: op nodes; :mod:`.instance`: block
  instances; :mod:`.template`: copies of repeated blocks stamped out from their first;
  :mod:`.context`: the context objects ``Ctx``, ``Site``, ``Plan``);
- :mod:`.unused`: warnings about nodes no output uses;
- :mod:`.resolver`: the entry points (:class:`Resolver`).
"""

from __future__ import annotations

from netdsl.frontend.schema import RequireRule
from netdsl.passes.resolve.limits import MAX_BLOCK_DEPTH, MAX_NODES, MAX_REPEAT
from netdsl.passes.resolve.resolver import Resolver

__all__ = ["MAX_BLOCK_DEPTH", "MAX_NODES", "MAX_REPEAT", "RequireRule", "Resolver"]
