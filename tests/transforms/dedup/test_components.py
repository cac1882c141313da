"""Connected components: numpy union-find, the Beam local path, the Beam fallback and its limit."""
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from transforms.dedup.components import (
    LOCAL_BYTES_PER_NODE,
    METRICS_NAMESPACE,
    ComponentsTooLarge,
    ConnectedComponents,
    DistributedComponents,
    local_components,
    measure_bytes_per_node,
    reference_components,
    union_find_roots,
)


def chains_and_stars(seed=7):
    """A 200-node chain in random label order (naive hash-to-min needs ~200 rounds), a
    60-leaf star, a star whose centre is the largest node, pairs, and a cycle."""
    rnd = random.Random(seed)
    labels = list(range(1000))
    rnd.shuffle(labels)
    chain = labels[:200]
    edges = [(chain[i], chain[i + 1]) for i in range(199)]
    edges += [(labels[200], labels[j]) for j in range(201, 261)]
    edges += [(2000, j) for j in (1990, 1991, 1992)]  # star centred on its largest node
    edges += [(labels[270 + i], labels[271 + i]) for i in range(0, 40, 2)]
    cycle = labels[320:330]
    edges += [(cycle[i], cycle[(i + 1) % 10]) for i in range(10)]
    edges += [(chain[5], chain[150]), (chain[150], chain[5])]  # duplicate edge both ways
    rnd.shuffle(edges)
    return edges


def test_union_find_matches_reference_on_random_graphs():
    rnd = random.Random(3)
    for _ in range(300):
        n = rnd.randint(1, 80)
        edges = [(rnd.randrange(n), rnd.randrange(n)) for _ in range(rnd.randint(0, 100))]
        assert local_components(edges) == reference_components(edges)


def test_chain_and_star_components():
    edges = chains_and_stars()
    roots = local_components(edges)
    assert roots == reference_components(edges)
    # every component's root is its minimum
    members = {}
    for node, root in roots.items():
        members.setdefault(root, []).append(node)
    assert all(root == min(nodes) for root, nodes in members.items())
    # a long chain given in random order collapses in a handful of vectorized passes
    rnd = random.Random(1)
    order = list(range(50_000))
    rnd.shuffle(order)
    chain = [(order[i], order[i + 1]) for i in range(len(order) - 1)]
    assert set(local_components(chain).values()) == {0}


def test_union_find_roots_integers():
    roots = union_find_roots(6, np.array([5, 3, 1]), np.array([4, 4, 2]))
    assert roots.tolist() == [0, 1, 1, 3, 3, 3]


def test_nodes_can_be_keep_rule_tuples():
    a, b, c = (0, -0.9, "z"), (0, -0.5, "a"), (1, 0.0, "b")
    assert local_components([(c, b), (b, a)]) == {a: a, b: a, c: a}


def test_local_limit_raises_clear_error():
    with pytest.raises(ComponentsTooLarge, match="max_local_nodes"):
        local_components([(1, 2), (3, 4)], max_nodes=3)
    assert len(local_components([(1, 2), (2, 3)], max_nodes=3)) == 3


def test_measured_bytes_per_node_within_documented_bound():
    assert measure_bytes_per_node(20_000) <= LOCAL_BYTES_PER_NODE


def _run_components(edges, **kwargs):
    """Run ConnectedComponents, check it against the reference; answer its counters."""
    expected = sorted(reference_components(edges).items())
    batches = [edges[i:i + 9] for i in range(0, len(edges), 9)]
    p = beam.Pipeline(runner=FnApiRunner())
    roots = p | beam.Create(batches) | ConnectedComponents(**kwargs)
    assert_that(roots, equal_to(expected))
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]
    return {c.key.metric.name: c.committed for c in counters}


def test_beam_components_local_path():
    counters = _run_components(chains_and_stars(), max_local_nodes=10_000, rounds=2)
    assert counters["local_nodes"] == len(reference_components(chains_and_stars()))
    assert counters.get("overflow_edges", 0) == 0


def test_beam_components_distributed_fallback_with_residual():
    # ~350 nodes > limit 120: the Beam rounds run; after 3 rounds the 200-chain has not
    # converged, so a residual label graph (<= 120 labels) is finished locally
    counters = _run_components(chains_and_stars(), max_local_nodes=120, rounds=3)
    assert counters["overflow_edges"] == len(chains_and_stars())
    assert counters["residual_label_edges"] > 0


@pytest.mark.parametrize("rounds", [0, 1, 6])
def test_distributed_components_exact_for_any_round_count(rounds):
    edges = chains_and_stars(seed=rounds)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        roots = p | beam.Create(edges) | DistributedComponents(rounds=rounds, max_local_nodes=10_000)
        assert_that(roots, equal_to(sorted(reference_components(edges).items())))


def test_beam_components_fail_loudly_past_the_limit():
    with pytest.raises(Exception, match="max_local_nodes"):
        _run_components(chains_and_stars(), max_local_nodes=20, rounds=0)


def _labels(max_nodes, max_local_nodes):
    p = beam.Pipeline(runner=FnApiRunner())
    _ = p | beam.Create([[(1, 2)]]) | ConnectedComponents(max_local_nodes=max_local_nodes, max_nodes=max_nodes)
    return [t.unique_name for t in p.to_runner_api().components.transforms.values()]


def test_a_known_small_graph_leaves_the_beam_rounds_out():
    assert not any("Distributed" in label for label in _labels(max_nodes=500, max_local_nodes=1000))
    for unknown_or_bigger in (None, 5000):  # the fallback stays wherever the graph may outgrow one worker
        assert any("Distributed" in label for label in _labels(max_nodes=unknown_or_bigger, max_local_nodes=1000))
    counters = _run_components(chains_and_stars(), max_local_nodes=10_000, max_nodes=10_000)
    assert counters["local_nodes"] == len(reference_components(chains_and_stars()))


def test_a_wrong_bound_fails_instead_of_answering_wrongly():
    # the caller promised at most 20 nodes; the graph has ~350, more than max_local_nodes
    with pytest.raises(Exception, match="max_local_nodes"):
        _run_components(chains_and_stars(), max_local_nodes=20, max_nodes=20)
