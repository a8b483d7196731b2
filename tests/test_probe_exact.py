"""The probe's shortcuts and scale bookkeeping against brute force, and its determinism.

Seeded; an estimate agrees with another when their difference is within 4 combined standard errors (the
pooled binomial SE, floored at 1/n so a count of 0 against 0 still has a tolerance of a few samples). The
brute force is `probe_helpers.reference_probe`: float64, every weight drawn, every point propagated.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from probe_helpers import (
    MLP,
    loaded_model,
    make_chain,
    reference_probe,
    with_output_bias,
)

from relulint.errors import UsageError
from relulint.probe import probe_chain
from relulint.probe.tally import Tally
from relulint.records.model_facts import ProbeResult


def se2(k1: int, n1: int, k2: int, n2: int) -> float:
    p = (k1 + k2) / (n1 + n2)
    return math.sqrt(max(p * (1.0 - p), 1.0 / (n1 + n2)) * (1.0 / n1 + 1.0 / n2))


def assert_agree(k1: int, n1: int, k2: int, n2: int, what: str) -> None:
    diff = abs(k1 / n1 - k2 / n2)
    assert diff <= 4 * se2(k1, n1, k2, n2), (
        f"{what}: {k1}/{n1} vs {k2}/{n2} ({diff / se2(k1, n1, k2, n2):.1f} SE)"
    )


def outcome(result: ProbeResult) -> tuple[int, int, tuple[float, ...]]:
    return result.born_dead, result.near_constant, result.dead_unit_fraction


# ----------------------------------------------------------- 1. Gaussian reduction, any sign of the Gram

TWO_POINTS = {
    "obtuse": [[1.0, 0.2, 0.0], [-1.0, 0.3, 0.1]],  # cos θ = -0.88: beyond the lerp (θ > 135°)
    "antipodal": [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]],  # cos θ = -1
    "wide": [[1.0, 0.0, 0.0], [-0.5, 1.0, 0.0]],  # cos θ = -0.45: the lerp with a negative weight
    "acute": [[1.0, 0.5, 0.0], [-0.3, 1.0, 0.0]],  # cos θ = 0.17
}


@pytest.mark.parametrize("name", sorted(TWO_POINTS))
def test_gaussian_reduction_is_exact_for_raw_inputs_of_any_sign(name: str) -> None:
    """Bias-free 3 → 4×4: the first layer sees the raw points. He normal (Gaussian reduction from the first
    layer), He uniform (drawn weights; `collapse`: any symmetric law) and the reduction switched off agree."""
    n = 40_000
    data = np.array(TWO_POINTS[name])
    normal = probe_chain(None, make_chain(3, [4] * 4), samples=n, seed=1, data=data, device="cpu")
    uniform = probe_chain(
        None, make_chain(3, [4] * 4, law="he-uniform"), samples=n, seed=2, data=data, device="cpu"
    )
    direct = probe_chain(
        None, make_chain(3, [4] * 4), samples=n, seed=3, data=data, device="cpu", shortcuts=False
    )
    assert "gaussian-reduced" in normal.method
    assert "gaussian-reduced" not in uniform.method and direct.method == "batched"
    assert 0.03 < direct.estimate < 0.15  # ≈ 7 %: the bug gave 90 % (obtuse) and 22 % (antipodal)
    assert_agree(normal.born_dead, n, direct.born_dead, n, "He normal (reduced) vs no shortcut")
    assert_agree(uniform.born_dead, n, direct.born_dead, n, "He uniform vs no shortcut")
    # mean dead-unit fractions (the reduced layers count them in expectation): a fraction's SE ≤ 0.5/√n
    for a, b in zip(normal.dead_unit_fraction, direct.dead_unit_fraction, strict=True):
        assert abs(a - b) <= 4 * 0.5 * math.sqrt(2.0 / n)


def test_gaussian_reduction_of_raw_inputs_keeps_their_angle() -> None:
    """Nearly parallel raw points (cos θ = 0.95): the first layer's pre-activations must keep that correlation
    (a bug overwrote cos θ with asin(cos θ) in place: 6.5 SE off here; the angles above hide it, asin ≈ cos
    there). Bias-free 3 → 3×4, He normal, 200 000 samples against the reduction switched off."""
    n = 200_000
    data = np.array([[1.0, 0.0, 0.0], [0.95, math.sqrt(1 - 0.95**2), 0.0]])
    chain = make_chain(3, [3] * 4)
    reduced = probe_chain(None, chain, samples=n, seed=1, data=data, device="cpu")
    direct = probe_chain(None, chain, samples=n, seed=2, data=data, device="cpu", shortcuts=False)
    assert "gaussian-reduced" in reduced.method and direct.method == "batched"
    assert_agree(reduced.born_dead, n, direct.born_dead, n, "reduced vs no shortcut at cos θ = 0.95")
    for a, b in zip(reduced.dead_unit_fraction, direct.dead_unit_fraction, strict=True):
        assert abs(a - b) <= 4 * 0.5 * math.sqrt(2.0 / n)


def test_gaussian_reduction_matches_float64_brute_force() -> None:
    n, n_ref = 40_000, 20_000
    data = np.array(TWO_POINTS["obtuse"])
    chain = make_chain(3, [4] * 4)
    probe = probe_chain(None, chain, samples=n, seed=4, data=data, device="cpu")
    dead, _ = reference_probe(chain, data, n_ref, seed=5)
    assert_agree(probe.born_dead, n, dead, n_ref, "reduced vs float64 brute force")


# ----------------------------------------- 2. the near-constant count, scale carried per sample and point

PM1 = np.array([[-1.0], [1.0]])
GRID64 = np.random.default_rng(0).uniform(-math.sqrt(3.0), math.sqrt(3.0), size=(64, 2))


def _bn_on_last_hidden():  # type: ignore[no-untyped-def]
    """2 → 4×16 → 1, PyTorch default weights, BatchNorm after the last hidden layer only, output bias: the
    signal reaching the BatchNorm is ~1e-12 of its input, far below its eps (the rescaling must not hide it)."""
    chain = make_chain(2, [4] * 16, law="default")
    hidden = list(chain.hidden)
    hidden[-1] = dataclasses.replace(hidden[-1], norm="batchnorm")
    return with_output_bias(dataclasses.replace(chain, layers=(*hidden, chain.layers[-1])))


NEAR_CASES = {
    # bias-free hidden layers, an output bias, |D| = 64: the rescaling every 8 layers must reach the bias
    "default hidden, output bias": (with_output_bias(make_chain(2, [4] * 20, law="default")), GRID64, 8_000),
    # d_in = 1, D = {-1, +1}, 60 layers: per-point factors in the reduced layers must not make them equal
    "He normal 10x60 on {-1, +1}": (make_chain(1, [10] * 60), PM1, 4_000),
    "He uniform 10x60 on {-1, +1}": (make_chain(1, [10] * 60, law="he-uniform"), PM1, 4_000),
    # iid Gaussian rows whose signal shrinks, output bias: reduced layers with per-point factors
    "reduced, 2 points, output bias": (
        with_output_bias(make_chain(3, [4] * 10, law="small-normal")),
        np.array(TWO_POINTS["obtuse"]),
        20_000,
    ),
    "exact-2-point + reduced, output bias": (
        with_output_bias(make_chain(1, [4] * 10, law="small-normal")),
        np.array([[-1.5], [-0.5], [0.7], [2.0]]),
        20_000,
    ),
    "BatchNorm after the decay": (_bn_on_last_hidden(), GRID64[:16], 8_000),
}


@pytest.mark.parametrize("name", list(NEAR_CASES))
def test_near_constant_and_born_dead_match_float64_brute_force(name: str) -> None:
    chain, data, n = NEAR_CASES[name]
    n_ref = 3_000
    probe = probe_chain(None, chain, samples=n, seed=6, data=data, device="cpu")
    dead, near = reference_probe(chain, data, n_ref, seed=7)
    assert probe.samples == n
    assert_agree(probe.born_dead, n, dead, n_ref, f"{name}: born dead")
    assert_agree(probe.near_constant, n, near, n_ref, f"{name}: near-constant")


def test_near_constant_cases_are_not_trivial() -> None:
    """The brute force itself: the cases above test something (a fraction well inside (0, 1), or exactly 0
    where the bug reported 78 %)."""
    fractions = {}
    for name, (chain, data, _) in NEAR_CASES.items():
        _, near = reference_probe(chain, data, 1_000, seed=8)
        fractions[name] = near / 1_000
    assert fractions["He normal 10x60 on {-1, +1}"] == 0.0
    for name in (
        "default hidden, output bias",
        "reduced, 2 points, output bias",
        "BatchNorm after the decay",
    ):
        assert 0.05 < fractions[name] < 0.95, (name, fractions[name])


# ------------------------------------------------------------------------------------ 3. determinism


CHAINS = {
    "pair, exact + reduced": (make_chain(1, [3] * 10), None),
    "pair, reduced, 2 points, output bias": (
        with_output_bias(make_chain(3, [3] * 8, law="small-normal")),
        np.array(TWO_POINTS["wide"]),
    ),
    "points, biases": (make_chain(2, [3] * 8, law="default", bias=True), None),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_result_depends_on_the_seed_not_on_max_memory(name: str) -> None:
    chain, data = CHAINS[name]
    results = {
        memory: outcome(
            probe_chain(
                None, chain, samples=6_000, seed=9, data=data, points=32, device="cpu", max_memory=memory
            )
        )
        for memory in (1 << 30, 4 << 20, 100 << 10)
    }
    assert len(set(results.values())) == 1, results
    other = outcome(probe_chain(None, chain, samples=6_000, seed=10, data=data, points=32, device="cpu"))
    assert other != results[1 << 30]


@pytest.mark.parametrize("name", list(CHAINS))
def test_blocks_draw_the_same_whatever_the_chunk(name: str) -> None:
    """Chunks of 1, 3 or all 10 blocks of 600 samples (each block compacts its dead rows on its own)."""
    chain, data = CHAINS[name]
    results = [
        outcome(
            probe_chain(
                None,
                chain,
                samples=6_000,
                seed=11,
                data=data,
                points=32,
                device="cpu",
                block=600,
                chunk=chunk,
            )
        )
        for chunk in (600, 1_800, 6_000)
    ]
    assert results[0] == results[1] == results[2]
    assert 0 < results[0][0] < 6_000  # samples died (the per-block compaction ran) and some survived


def counted(chain: object, data: np.ndarray | None, **options: object) -> tuple[object, object, int]:
    """A CPU probe on 32 points: (outcome, draw calls, chunks that ran at once)."""
    tally = Tally()
    result = probe_chain(None, chain, data=data, points=32, device="cpu", tally=tally, **options)
    return outcome(result), dict(tally.drawn.calls), tally.workers


@pytest.mark.parametrize("name", list(CHAINS))
def test_chunks_in_flight_do_not_change_the_result(name: str) -> None:
    """One, two or three chunks at once (threads): the same counts, dead-unit fractions and draw calls."""
    chain, data = CHAINS[name]
    runs = [
        counted(chain, data, samples=6_000, seed=13, block=500, chunk=500, workers=workers)[:2]
        for workers in (1, 2, 3)
    ]
    assert runs[0] == runs[1] == runs[2]


def test_default_workers_with_multi_block_chunks_match_one_at_a_time() -> None:
    """The default (two chunks at once on a CPU with two threads, chunks of many 400-sample blocks from the
    memory bound) against one block at a time."""
    chain, data = CHAINS["pair, exact + reduced"]
    common = dict(samples=20_000, seed=14, block=400)
    by_default, default_calls, workers = counted(chain, data, max_memory=1 << 20, **common)
    one_by_one, calls, _ = counted(chain, data, chunk=400, workers=1, **common)
    assert by_default == one_by_one
    assert default_calls == calls
    if torch.get_num_threads() >= 2:
        assert workers == 2


def test_asked_workers_respect_the_memory_bound() -> None:
    chain, data = CHAINS["pair, exact + reduced"]
    tally = Tally()
    probe_chain(
        None,
        chain,
        samples=4_000,
        seed=1,
        data=data,
        device="cpu",
        block=1_000,
        max_memory=1,
        workers=3,
        tally=tally,
    )
    assert tally.workers == 1


def test_in_order_keeps_the_order_and_stops_on_an_error() -> None:
    import time

    from relulint.probe.runner import _in_order

    made: list[dict[str, bool]] = []

    def make_state() -> dict[str, bool]:
        made.append({"busy": False})
        return made[-1]

    def work(item: int, state: dict[str, bool]) -> int:
        assert not state["busy"]  # a state is never held by two running calls
        state["busy"] = True
        time.sleep(0.002 * (item % 3))  # later items may finish first: the order must still hold
        state["busy"] = False
        if item == 5:
            raise ValueError("five")
        return item

    assert list(_in_order(work, range(5), 2, make_state)) == [0, 1, 2, 3, 4]
    assert len(made) == 2
    seen = []
    with pytest.raises(ValueError, match="five"):
        for item in _in_order(work, range(10), 2, make_state):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_in_order_gives_each_worker_its_threads_and_puts_the_default_back() -> None:
    """Each pool thread runs PyTorch on ``threads_each`` threads; afterwards the calling thread and threads
    started later see the number from before (PyTorch stores a process-wide default when a thread sets its
    own)."""
    import threading

    from relulint.probe.runner import _in_order

    before = torch.get_num_threads()
    seen = list(_in_order(lambda item, state: torch.get_num_threads(), range(6), 2, dict, threads_each=1))
    assert seen == [1] * 6
    later: list[int] = []
    thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert torch.get_num_threads() == before and later == [before]


def test_reinstantiate_path_is_chunk_independent() -> None:
    loaded = loaded_model(lambda: MLP(2, (3, 3, 3), 1, bias=True))
    chain = make_chain(2, [3] * 3, law="default", bias=True)
    runs = [
        outcome(probe_chain(loaded, chain, samples=300, seed=12, path="reinstantiate", block=100, chunk=c))
        for c in (100, 300)
    ]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("memory", [0, -1, 0.0])
def test_max_memory_must_be_positive(memory: float) -> None:
    with pytest.raises(UsageError):
        probe_chain(None, make_chain(1, [2] * 3), samples=10, max_memory=memory)  # type: ignore[arg-type]


def test_a_memory_bound_below_one_block_says_so() -> None:
    result = probe_chain(None, make_chain(1, [2] * 3), samples=5_000, device="cpu", max_memory=1 << 10)
    assert any("below one block" in note for note in result.notes)


def test_worker_count_follows_the_engine_and_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two chunks at once where the draws leave cores idle; one where the matmuls use every thread."""
    from relulint.probe.plan import build_plan
    from relulint.probe.runner import _workers

    def plan_of(chain, data=None):
        kwargs = dict(init="recorded", path="auto", points=32, domain=None, data=data, seed=0)
        return build_plan(None, chain, **kwargs)

    pair = plan_of(make_chain(1, [3] * 10))
    points = plan_of(*CHAINS["points, biases"])
    assert pair.pair and not points.pair
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for threads, pair_workers, points_workers in ((1, 1, 1), (2, 2, 2), (4, 2, 2), (16, 2, 1)):
        monkeypatch.setattr(torch, "get_num_threads", lambda threads=threads: threads)
        assert _workers(pair, cpu, 10_000, 1_000, 1 << 20, 1 << 30, None) == pair_workers
        assert _workers(points, cpu, 10_000, 1_000, 1 << 20, 1 << 30, None) == points_workers
    assert _workers(pair, cuda, 10_000, 1_000, 1 << 20, 1 << 30, None) == 1
    assert _workers(pair, cpu, 1_000, 1_000, 1 << 20, 1 << 30, None) == 1  # one block: nothing to overlap
    assert _workers(pair, cpu, 10_000, 1_000, 1 << 20, 1 << 20, None) == 1  # memory for one block only


@pytest.mark.parametrize("samples", [1, 999, 47_392, 47_393, 100_000, 1_000_000, 3_333_333])
def test_default_blocks_come_in_even_numbers_of_equal_size(samples: int) -> None:
    """Several blocks are an even number of equal blocks (the last smaller by less than their count), each
    within BLOCK_BYTES: the two chunks a CPU runs at once finish together. One block when they fit."""
    from relulint.probe.plan import build_plan
    from relulint.probe.runner import BLOCK_BYTES, _block_samples, _per_sample_bytes

    kwargs = dict(init="recorded", path="auto", points=32, domain=None, data=None, seed=0)
    plan = build_plan(None, make_chain(1, [10] * 10), **kwargs)
    per_sample = _per_sample_bytes(plan)
    block = _block_samples(plan, torch.device("cpu"), samples)
    count = -(-samples // block)
    assert block * per_sample <= BLOCK_BYTES["cpu"]
    if samples * per_sample <= BLOCK_BYTES["cpu"]:
        assert (block, count) == (samples, 1)
    else:
        assert count % 2 == 0
        assert 0 <= count * block - samples < count  # equal blocks; the last one short by the rounding
        assert count == 2 * -(-samples * per_sample // (2 * BLOCK_BYTES["cpu"]))  # no more than needed


def test_the_default_block_split_keeps_both_threads_busy_to_the_end() -> None:
    """21.1 blocks' worth of samples: 22 equal blocks, dealt 11 and 11 (before: 21 full and one of 10 %)."""
    chain = make_chain(1, [10] * 10)
    tally = Tally()
    probe_chain(None, chain, samples=1_000_000, seed=0, device="cpu", progress=False, tally=tally)
    first_layer = {size // 10: count for (_kind, size), count in tally.drawn.calls.items() if size < 500_000}
    assert first_layer == {45_455: 21, 45_445: 1}  # the first layer draws 10 weights per sample of a block
