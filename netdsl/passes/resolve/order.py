"""Topological order of a body's nodes, and the cycle that prevents one: pure functions."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Order:
    """The nodes in an order where each comes after the nodes it depends on (ties broken by their
    order in ``names``); when some are in a cycle, ``order`` holds the others that can be ordered
    and ``cycle`` one cycle, in the direction data flows, from its node first in ``names``."""

    order: list[str]
    cycle: tuple[str, ...] | None = None


def topo_order(names: Sequence[str], deps: Mapping[str, Set[str]]) -> Order:
    """Order ``names`` (each after its ``deps``, which are names of ``names``); ties by position."""
    index = {n: i for i, n in enumerate(names)}
    users: dict[str, list[str]] = {n: [] for n in names}
    pending: dict[str, int] = {}
    empty: frozenset[str] = frozenset()
    for n in names:
        ds = deps.get(n, empty)
        pending[n] = len(ds)
        for d in ds:
            users[d].append(n)
    heap = [index[n] for n in names if pending[n] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        n = names[heapq.heappop(heap)]
        order.append(n)
        for u in users[n]:
            pending[u] -= 1
            if pending[u] == 0:
                heapq.heappush(heap, index[u])
    if len(order) == len(names):
        return Order(order)
    stuck = [n for n in names if pending[n] > 0]
    cycle = find_cycle(stuck, deps)[::-1]  # in the direction data flows
    start = min(range(len(cycle)), key=lambda i: index[cycle[i]])  # from the first in the spec
    return Order(order, tuple(cycle[start:] + cycle[:start]))


def find_cycle(stuck: Sequence[str], deps: Mapping[str, Set[str]]) -> list[str]:
    """A cycle among ``stuck`` (names that all wait on one another): followed from ``stuck[0]``
    along each one's first dependency by name, in the direction of the dependencies."""
    stuck_set = set(stuck)
    seen: dict[str, int] = {}
    path: list[str] = []
    node = stuck[0]
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = sorted(d for d in deps[node] if d in stuck_set)[0]
    return path[seen[node] :]
