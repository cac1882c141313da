"""Connected components of the duplicate-candidate graph: local union-find + a Beam fallback.

Nodes are any totally ordered, hashable values (NearDedup uses keep-rule tuples, so a
component's smallest node is its survivor). Every function answers ``node -> root`` where
``root`` is the smallest node of the node's component.

Memory limit
    The Beam transform first gathers every edge on ONE worker and runs ``local_components``
    (numpy union-find). Only documents with at least one candidate duplicate are nodes.
    Measured cost: about ``LOCAL_BYTES_PER_NODE`` bytes per node for NearDedup's
    nodes with ~1 edge per node (Python node tuples, the index dict, edge and label
    arrays; see ``measure_bytes_per_node``), so the default ``max_local_nodes`` of 10
    million needs about 4 GB on that worker.
    Past the limit the transform does not guess: it switches to ``DistributedComponents``,
    a fixed number of Beam rounds of min-label propagation + pointer jumping (every round
    shortens label chains by about half, so ``rounds`` rounds settle components of
    diameter up to ~2^rounds), then finishes on one worker with union-find on the *label
    graph* of what has not converged (labels joined by an edge whose endpoints still
    disagree). That label graph is usually tiny; if it also exceeds ``max_local_nodes``
    the pipeline fails with ``ComponentsTooLarge`` naming both knobs. Results are exact in
    every case.
"""
from __future__ import annotations

import tracemalloc
from array import array
from typing import Any, Hashable, Iterable

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

DEFAULT_MAX_LOCAL_NODES = 10_000_000
DEFAULT_ROUNDS = 6
LOCAL_BYTES_PER_NODE = 400  # measured by measure_bytes_per_node() for NearDedup nodes, rounded up


class ComponentsTooLarge(RuntimeError):
    """The graph (or its unconverged remainder) has more nodes than one worker may hold."""


def _too_large(limit: int, what: str) -> ComponentsTooLarge:
    return ComponentsTooLarge(
        f"connected components: {what} has more than {limit:,} nodes (max_local_nodes); "
        f"about {LOCAL_BYTES_PER_NODE} bytes per node are needed on one worker. Raise "
        f"max_local_nodes on a bigger worker, or raise rounds so more of the graph converges "
        f"on Beam before the local step."
    )


def union_find_roots(n_nodes: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Smallest node index of each node's component, for integer edges ``left[i] - right[i]``.

    Vectorized hook-and-compress: every root hooks under the smallest root it shares an
    edge with, then pointer jumping flattens the forest. A root that gets no child in one
    pass is hooked in the next, so components at least halve every two passes:
    O(log n) passes of O(edges) numpy work.
    """
    parent = np.arange(n_nodes, dtype=np.int64)
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    while True:
        root_l, root_r = parent[left], parent[right]
        differ = root_l != root_r
        if not differ.any():
            return parent
        left, right = left[differ], right[differ]  # edges inside a settled tree never matter again
        low = np.minimum(root_l[differ], root_r[differ])
        high = np.maximum(root_l[differ], root_r[differ])
        np.minimum.at(parent, high, low)  # high is a root: parent is fully compressed here
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def local_components(edges: Iterable[tuple[Hashable, Hashable]], max_nodes: int | None = None) -> dict:
    """``{node: root}`` for every node with an edge; ``root`` = smallest node of its component.

    Raises ``ComponentsTooLarge`` as soon as more than ``max_nodes`` distinct nodes are seen.
    """
    index: dict[Any, int] = {}
    left, right = array("q"), array("q")
    for u, v in edges:
        for node, side in ((u, left), (v, right)):
            i = index.get(node)
            if i is None:
                i = index[node] = len(index)
                if max_nodes is not None and i >= max_nodes:
                    raise _too_large(max_nodes, "the candidate graph")
            side.append(i)
    if not index:
        return {}
    nodes = list(index)
    del index
    # renumber nodes in sort order so the smallest index of a component is its smallest node
    order = sorted(range(len(nodes)), key=nodes.__getitem__)
    rank = np.empty(len(nodes), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(nodes), dtype=np.int64)
    roots = union_find_roots(len(nodes), rank[np.frombuffer(left, dtype=np.int64)],
                             rank[np.frombuffer(right, dtype=np.int64)])
    return {node: nodes[order[roots[rank[i]]]] for i, node in enumerate(nodes)}


def reference_components(edges: Iterable[tuple[Hashable, Hashable]]) -> dict:
    """Plain sequential union-find with path halving (test oracle for the numpy version)."""
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = find(u), find(v)
        if ru != rv:
            if rv < ru:
                ru, rv = rv, ru
            parent[rv] = ru
    return {x: find(x) for x in list(parent)}


def measure_bytes_per_node(n_nodes: int = 200_000) -> float:
    """Peak traced bytes per node of ``local_components`` on NearDedup-like input.

    Nodes are ``(0, -score, 16-hex-char id, 16-byte batch key, row)`` tuples in clusters of
    four with star edges (~0.75 edges per node), created fresh per edge as when edge
    batches are unpickled from a GroupByKey. Includes the returned ``{node: root}`` dict.
    """
    batch_key = bytes(range(16))

    def node(i: int) -> tuple:
        return (0, -float(i % 7), f"{i:016x}", batch_key, i % 4096)

    def edges():
        for i in range(n_nodes):
            if i % 4:
                yield node(i - i % 4), node(i)

    tracemalloc.start()
    try:
        result = local_components(edges())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(result) == n_nodes
    return peak / n_nodes


# ------------------------------------------------------------------------ Beam

OVERFLOW = "overflow"
METRICS_NAMESPACE = "dedup:components"


class _LocalComponentsFn(beam.DoFn):
    """All edge batches on one key -> (node, root) pairs, or every batch to OVERFLOW past the limit."""

    def __init__(self, max_local_nodes: int, overflow: bool = True):
        self.max_local_nodes, self.overflow = max_local_nodes, overflow

    def setup(self):
        self.local_nodes = Metrics.counter(METRICS_NAMESPACE, "local_nodes")
        self.overflow_edges = Metrics.counter(METRICS_NAMESPACE, "overflow_edges")

    def process(self, keyed_batches):
        _, batches = keyed_batches
        try:
            roots = local_components((e for batch in batches for e in batch), self.max_local_nodes)
        except ComponentsTooLarge:
            if not self.overflow:  # the planned bound on the nodes was wrong: fail, never answer wrongly
                raise
            # grouped values can be iterated again; hand the graph to the Beam rounds
            for batch in batches:
                self.overflow_edges.inc(len(batch))
                yield beam.pvalue.TaggedOutput(OVERFLOW, batch)
            return
        self.local_nodes.inc(len(roots))
        for node, root in roots.items():
            yield node, root


def _adjacency(edge):
    u, v = edge
    yield u, v
    yield v, u


# Joins below group (key, (tag, value)) with a plain GroupByKey and read the grouped values
# twice (grouped values are re-iterable) instead of CoGroupByKey, which builds in-memory lists:
# a hub node or a popular label may have hundreds of millions of values.
_ONE, _MANY = 0, 1


def _lookup_join(name: str, one, many):
    """``one``: (key, value), one per key; ``many``: (key, item) -> GroupByKey of tagged values."""
    return (
        (one | f"{name}TagOne" >> beam.Map(lambda kv: (kv[0], (_ONE, kv[1]))),
         many | f"{name}TagMany" >> beam.Map(lambda kv: (kv[0], (_MANY, kv[1]))))
        | f"{name}Flatten" >> beam.Flatten()
        | f"{name}Group" >> beam.GroupByKey()
    )


def _the_one(tagged_values):
    for tag, value in tagged_values:
        if tag == _ONE:
            return value
    return None


def _the_many(tagged_values):
    for tag, value in tagged_values:
        if tag == _MANY:
            yield value


def _propagate(keyed):
    """Node with its label and neighbours -> its label offered to itself and every neighbour."""
    node, tagged = keyed
    label = _the_one(tagged)
    yield node, label
    for neighbour in _the_many(tagged):
        yield neighbour, label


def _jump(keyed):
    """Label l with label(l) and the nodes pointing at l -> each such node is offered label(l)."""
    label, tagged = keyed
    target = _the_one(tagged)
    if target is not None and target < label:
        for node in _the_many(tagged):
            yield node, target


def _left_labelled(keyed):
    """Edge source u with label(u) and its targets -> (v, label(u)) per edge."""
    _, tagged = keyed
    label = _the_one(tagged)
    for target in _the_many(tagged):
        yield target, label


def _cross_label_edges(keyed):
    """Edge target v with label(v) and its sources' labels -> label-graph edges where they differ."""
    _, tagged = keyed
    label = _the_one(tagged)
    for other in _the_many(tagged):
        if other != label:
            yield (other, label) if other < label else (label, other)


def _final_root(keyed):
    """Label with its residual root (if any) and its nodes -> (node, root)."""
    label, tagged = keyed
    root = _the_one(tagged)
    root = label if root is None else root
    for node in _the_many(tagged):
        yield node, root


class _ResidualComponentsFn(beam.DoFn):
    def __init__(self, max_local_nodes: int):
        self.max_local_nodes = max_local_nodes

    def setup(self):
        self.residual_edges = Metrics.counter(METRICS_NAMESPACE, "residual_label_edges")

    def process(self, keyed_edges):
        _, edges = keyed_edges
        self.residual_edges.inc(sum(1 for _ in edges))
        try:
            yield from local_components(edges, self.max_local_nodes).items()
        except ComponentsTooLarge as exc:
            raise _too_large(self.max_local_nodes, "the label graph left after the Beam rounds") from exc


class DistributedComponents(beam.PTransform):
    """(u, v) edges -> (node, root) for every node, on Beam, exact for any graph.

    ``rounds`` unrolled rounds of: label(v) = min label over v and its neighbours, then
    label(v) = min(label(v), label(label(v))) (pointer jumping). Afterwards the edges whose
    endpoints still have different labels form a label graph, solved by local union-find on
    one worker (bounded by ``max_local_nodes``), and every node gets its label's root.
    Correct for any number of rounds: labels always name a node of the same component.
    """

    def __init__(self, rounds: int = DEFAULT_ROUNDS, max_local_nodes: int = DEFAULT_MAX_LOCAL_NODES):
        super().__init__()
        self.rounds, self.max_local_nodes = rounds, max_local_nodes

    def expand(self, edges):
        adjacency = edges | "Adjacency" >> beam.FlatMap(_adjacency)
        labels = (
            adjacency
            | "SelfAndNeighbours" >> beam.FlatMap(lambda kv: [(kv[0], kv[0]), kv])
            | "InitialLabel" >> beam.CombinePerKey(min)
        )
        for r in range(self.rounds):
            propagated = (
                _lookup_join(f"Round{r}Neighbours", labels, adjacency)
                | f"Round{r}Propagate" >> beam.FlatMap(_propagate)
                | f"Round{r}MinLabel" >> beam.CombinePerKey(min)
            )
            pointing = propagated | f"Round{r}ByLabel" >> beam.Map(lambda kv: (kv[1], kv[0]))
            jumped = (
                _lookup_join(f"Round{r}Pointers", propagated, pointing)
                | f"Round{r}Jump" >> beam.FlatMap(_jump)
            )
            labels = (
                (propagated, jumped)
                | f"Round{r}Merge" >> beam.Flatten()
                | f"Round{r}Settle" >> beam.CombinePerKey(min)
            )

        source_labels = _lookup_join("EdgeSources", labels, edges) | "SourceLabels" >> beam.FlatMap(_left_labelled)
        label_roots = (
            _lookup_join("EdgeTargets", labels, source_labels)
            | "CrossLabelEdges" >> beam.FlatMap(_cross_label_edges)
            | "DistinctLabelEdges" >> beam.Distinct()
            | "ResidualOneKey" >> beam.Map(lambda e: (None, e))
            | "ResidualGather" >> beam.GroupByKey()
            | "ResidualUnionFind" >> beam.ParDo(_ResidualComponentsFn(self.max_local_nodes))
        )
        by_label = labels | "NodeByLabel" >> beam.Map(lambda kv: (kv[1], kv[0]))
        return _lookup_join("Final", label_roots, by_label) | "FinalRoot" >> beam.FlatMap(_final_root)


class ConnectedComponents(beam.PTransform):
    """PCollection of edge *batches* (lists of ``(u, v)``) -> ``(node, root)`` for every node.

    ``root`` is the smallest node of the component. Local union-find on one worker up to
    ``max_local_nodes`` nodes (about ``LOCAL_BYTES_PER_NODE`` bytes each); beyond that the
    edges go through ``DistributedComponents`` (``rounds`` Beam rounds, then a bounded
    local step that fails with ``ComponentsTooLarge`` rather than answer wrongly).

    ``max_nodes``: a bound on the graph's nodes known when the pipeline is built (the records
    that can reach dedup). Within ``max_local_nodes`` the Beam rounds are left out of the
    pipeline: the graph cannot outgrow the local step, and their ~50 steps cost a bundle each
    even when no edge reaches them (about a second of every small run).
    """

    def __init__(self, max_local_nodes: int = DEFAULT_MAX_LOCAL_NODES, rounds: int = DEFAULT_ROUNDS,
                 max_nodes: int | None = None):
        super().__init__()
        self.max_local_nodes, self.rounds, self.max_nodes = max_local_nodes, rounds, max_nodes

    def expand(self, edge_batches):
        local_only = self.max_nodes is not None and self.max_nodes <= self.max_local_nodes
        local = (
            edge_batches
            | "OneKey" >> beam.Map(lambda batch: (None, batch))
            | "Gather" >> beam.GroupByKey()
            | "LocalUnionFind" >> beam.ParDo(_LocalComponentsFn(self.max_local_nodes, overflow=not local_only)
                                             ).with_outputs(OVERFLOW, main="roots")
        )
        if local_only:
            return local.roots
        distributed = (
            local[OVERFLOW]
            | "OverflowEdges" >> beam.FlatMap(lambda batch: batch)
            | "Distributed" >> DistributedComponents(self.rounds, self.max_local_nodes)
        )
        return (local.roots, distributed) | "AllRoots" >> beam.Flatten()
