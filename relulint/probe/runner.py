"""`probe_chain`: plan, sample in blocks and chunks (two at once on a CPU), count, and report, within the
time limit; Ctrl-C returns the estimate so far."""

from __future__ import annotations

import math
import queue
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import torch

from relulint.errors import UsageError
from relulint.probe.device import resolve_device
from relulint.probe.pair_engine import Workspace, run_pair
from relulint.probe.plan import Plan, build_plan
from relulint.probe.point_engine import run_points
from relulint.probe.progress import Progress, ProgressArg
from relulint.probe.sampling import Draws, batched_source, block_generator, preloaded_source, rebuild_weights
from relulint.probe.tally import FIXED, Run, Tally, wilson_interval
from relulint.records.loaded import LoadedModel
from relulint.records.model_facts import Chain, ProbeResult

CPU_CHUNK_BYTES = 16 << 20  # working set per chunk on the CPU: small enough to stay in cache


# the largest working set of one block of samples (each block has its own generator): fixed per device type,
# so the draws never depend on --max-memory, which only sets how many blocks run at once (see
# `_block_samples` for how a run is split). On the CPU 32 MiB (e.g. 47,392 samples of a width-10 chain):
# each operation is issued from Python, so a block's operations cost their count as well as their size,
# and with two chunks at once each one hands the interpreter lock over; 10^6 samples of 1 -> 10x10 -> 1
# took 0.66 s with blocks of up to 16 MiB, 0.59 s with 32 MiB, 0.64 s with 64 MiB (`benchmarks/
# bench_probe.py`, 2 cores). Changing it changes which random numbers each sample gets.
BLOCK_BYTES = {"cpu": 32 << 20, "cuda": 64 << 20}


_T = TypeVar("_T")


class ProbeInterrupted(KeyboardInterrupt):
    """Ctrl-C during a probe: ``result`` is the estimate from the samples finished so far."""

    def __init__(self, result: ProbeResult) -> None:
        super().__init__("probe interrupted")
        self.result = result


def _per_sample_bytes(plan: Plan) -> int:
    """An upper estimate of one sample's working set (float32 hidden states, weights, temporaries).

    The pair engine (``|D| <= 2``) holds two buffers of ``|D| x width`` floats, an allowance of ``3 x (width +
    1)`` floats for temporaries (the float64 copy of the states for the Gram is larger; the estimate is kept
    as it was when it first sized the blocks, so that the draws, and every seeded result, stay the same), the
    weight matrix of at most one drawn layer at a time (none for a Gaussian-reduced one), biases, two float64 Grams and cos θ (7 float64)
    and per-sample bookkeeping; the points engine also holds weight-shaped temporaries.
    """
    widths = [p.out_features for p in plan.hidden] + [plan.points.shape[1]]
    if plan.output is not None:
        widths.append(plan.output.out_features)
    wmax = max(widths)
    n_points = plan.points.shape[0]
    if plan.pair:
        layers = [*(p for p in plan.hidden if not p.reduced), *([plan.output] if plan.output else [])]
        weights = max((p.in_features * p.out_features for p in layers), default=0)
        floats = (2 * n_points + 3) * wmax + 3 + weights + 4 * wmax
        return 4 * floats + 8 * 7 + 160  # + the Grams, cos θ and float64 / int64 per-sample values
    return 4 * (4 * wmax * n_points + 3 * wmax * wmax + 4 * wmax) + 64


def _block_samples(plan: Plan, device: torch.device, samples: int) -> int:
    """Samples per block: fixed by the chain, the device type and ``samples`` (never by ``max_memory`` or the
    machine's threads). At most ``BLOCK_BYTES`` per block, in an even number of blocks of equal size (the
    last one smaller by less than the number of blocks; the count may come out odd only where a block
    holds fewer samples than there are blocks) when there are several: the CPU runs two chunks at
    once, and with an odd count one thread would finish a whole block alone at the end (10^6 samples of a
    width-10 chain: 21 full blocks and a 10 % one, ~8 % of the wall time idle on one core)."""
    largest = max(1, BLOCK_BYTES.get(device.type, BLOCK_BYTES["cuda"]) // _per_sample_bytes(plan))
    blocks = -(-samples // largest)
    if blocks <= 1:
        return samples
    return -(-samples // (blocks + blocks % 2))


def _blocks_per_chunk(plan: Plan, block: int, max_memory: int, device: torch.device) -> int:
    budget = min(max_memory, CPU_CHUNK_BYTES) if device.type == "cpu" else max_memory
    return max(1, int(budget) // (block * _per_sample_bytes(plan)))


def _workers(
    plan: Plan,
    dev: torch.device,
    samples: int,
    block: int,
    block_bytes: int,
    max_memory: int,
    asked: int | None,
) -> int:
    """Chunks run at once: two on a CPU with two threads or more, where the memory bound holds two blocks.

    torch draws each generator's numbers on one thread, so one chunk at a time leaves the other cores idle
    while it draws; two chunks (each on its own blocks' generators) keep two busy. The pair engine is bound
    by its draws, so it always gains; the points engine is bound by its matmuls, which already use every
    thread, so it runs two chunks only on small CPUs (2-4 threads: measured +28-46 % on 2 cores; on more
    cores two thread teams would compete). The reinstantiate path runs the user's code and stays on the
    calling thread (``asked`` cannot change that); CUDA queues its work asynchronously already.
    """
    if plan.source != "batched":
        return 1
    if asked is not None:  # never more chunks at once than the memory bound holds blocks
        return max(1, min(int(asked), max_memory // max(block_bytes, 1)))
    threads = torch.get_num_threads()
    if dev.type != "cpu" or threads < 2 or (not plan.pair and threads > 4):
        return 1
    return 2 if samples > block and max_memory >= 2 * block_bytes else 1


def _in_order(
    work: Callable[[Any, Any], _T],
    items: Sequence[Any],
    workers: int,
    make_state: Callable[[], Any],
    threads_each: int | None = None,
) -> Iterator[_T]:
    """``work(item, state)`` for each item, results yielded in order, at most ``workers`` running at once.

    Each running call holds one ``state`` (made by ``make_state``, reused by later calls, never shared by
    two at once). One worker runs everything on the calling thread. Several: a pool of ``workers`` threads
    with up to two items queued per thread (a thread that finishes early starts the next item instead of
    waiting for the one before it), each thread running PyTorch's operations on ``threads_each`` threads of
    its own (PyTorch keeps that number per thread; the process-wide default it also sets for threads started
    later is put back when the pool is done). On an exception (Ctrl-C included) no new item starts; calls
    already running finish in their threads and their results are dropped.
    """
    if workers <= 1:
        state = make_state()
        for item in items:
            yield work(item, state)
        return
    states: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for _ in range(workers):
        states.put(make_state())
    threads_before = torch.get_num_threads()

    def call(item: Any) -> _T:
        if threads_each is not None and torch.get_num_threads() != threads_each:
            torch.set_num_threads(threads_each)
        state = states.get()
        try:
            return work(item, state)
        finally:
            states.put(state)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="relulint-probe")
    pending: deque[Future[_T]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(call, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        if threads_each is not None and threads_each != threads_before:
            torch.set_num_threads(threads_before)


def probe_chain(
    loaded: LoadedModel | None,
    chain: Chain,
    *,
    samples: int,
    points: int = 256,
    domain: tuple[float, float] | None = None,
    data: np.ndarray | None = None,
    seed: int = 0,
    device: str = "auto",
    max_memory: int = 1 << 30,
    init: str = "recorded",
    progress: ProgressArg = None,
    path: str = "auto",
    dtype: torch.dtype = torch.float32,
    chunk: int | None = None,
    block: int | None = None,
    tally: Tally | None = None,
    shortcuts: bool = True,
    workers: int | None = None,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ProbeResult:
    """Monte-Carlo estimate of P(born dead) for ``chain`` (`dying` Eq. 3.1, `collapse` Lemma 1).

    ``init="recorded"`` samples the layers' recorded initializers (``Layer.weight_init`` / ``bias_init``);
    ``init="rai"`` samples RAI (`dying` §4.1) instead. ``path`` is ``"auto"`` (batched unless an init is custom
    or unknown, then reinstantiate), ``"batched"`` or ``"reinstantiate"``. ``data`` (points × d_in) replaces
    the default domain ``[-√3, √3]^d_in`` (``domain=(lo, hi)`` changes it); ``points`` caps |D|. ``progress``:
    None (auto), True, False, or a ``callback(done, total)``. Ctrl-C raises `ProbeInterrupted` carrying the
    estimate from the finished samples. ``tally`` (if given) receives the raw counts, including how many
    random numbers of each kind were drawn, in which calls (the benchmark's floor). ``shortcuts=False`` turns
    off the exact 2-point reduction and the Gaussian reduction (tests compare both ways). ``workers``: chunks
    in flight at once (default `_workers`: two on a CPU with two threads or more, else one). ``timeout``
    (seconds, by ``clock``): no new sample is started after it (the rebuild path checks after every model it
    builds, the batched one after every chunk); the result is over the samples reached, says so in a note
    and keeps the requested count (``ProbeResult.samples_requested``). ``dtype``: the probe's own arithmetic
    (float32 or float64), whatever the model's parameters are (bf16 and fp16 are read as float32).

    The samples are drawn in blocks (``block`` samples, by default fixed by the chain and the device type),
    each from a generator seeded from ``(seed, block index)``; a chunk runs ``max_memory`` worth of whole
    blocks at once (at least one; ``chunk`` samples, rounded up to whole blocks, overrides it). So the result
    depends on the seed and the device only, never on ``max_memory``.
    """
    if init not in ("recorded", "rai"):
        raise UsageError(f"unknown probe init {init!r}", hint="--compare rai")
    if path not in ("auto", "batched", "reinstantiate"):
        raise UsageError(f"unknown probe path {path!r}")
    if samples < 1:
        raise UsageError("--samples must be at least 1")
    if isinstance(max_memory, bool) or not isinstance(max_memory, int | float) or not max_memory > 0:
        raise UsageError(
            f"--max-memory must be a positive size, not {max_memory!r}",
            hint="--max-memory 1GiB (or 512MiB, or bytes)",
        )
    if block is not None and block < 1 or chunk is not None and chunk < 1:
        raise UsageError("probe block and chunk sizes must be at least 1 sample")
    if dtype not in (torch.float32, torch.float64):
        raise UsageError(
            f"the probe computes in float32 or float64, not {dtype}",
            hint="the model's own dtype (bf16, fp16) does not matter: its parameters are read as float32",
        )
    if timeout is not None and not timeout > 0:  # also NaN
        raise UsageError(f"the probe's time limit must be positive, not {timeout!r}", hint="--timeout 120")
    start = time.perf_counter()
    deadline = None if timeout is None or math.isinf(timeout) else clock() + timeout
    dev, device_note = resolve_device(device)
    plan = build_plan(
        loaded,
        chain,
        init=init,
        path=path,
        points=points,
        domain=domain,
        data=data,
        seed=seed,
        shortcuts=shortcuts,
    )
    notes = list(plan.notes) + ([device_note] if device_note else [])
    block_size = min(block or _block_samples(plan, dev, samples), samples)
    block_bytes = block_size * _per_sample_bytes(plan)
    workers = _workers(plan, dev, samples, block_size, block_bytes, int(max_memory), workers)
    total = Tally(dead_units=[0] * len(plan.hidden), workers=workers)
    per_chunk = (
        -(-chunk // block_size)
        if chunk
        else _blocks_per_chunk(plan, block_size, int(max_memory) // workers, dev)
    )
    if chunk is None and max_memory < block_bytes:
        notes.append(
            f"--max-memory {_size_text(max_memory)} is below one block of {block_size} samples"
            f" (~{_size_text(block_bytes)}): ran one block at a time"
        )
    n_blocks = -(-samples // block_size)
    stream = 1 if init == "recorded" else 5
    seeds = (
        np.random.default_rng([seed, 3]).integers(0, 2**62, size=samples)
        if plan.source == "reinstantiate"
        else None
    )
    label = f"probe chain {chain.index}" + (": rebuilding the model per sample" if seeds is not None else "")
    bar = Progress(progress, samples, label)
    engine = run_pair if plan.pair else run_points

    def in_time() -> bool:
        return deadline is None or clock() < deadline

    def result(extra: Sequence[str] = ()) -> ProbeResult:
        seconds = time.perf_counter() - start
        return _result(total, plan, dev, seconds, init, chain, [*notes, *extra], requested=samples)

    chunks = [range(first, min(n_blocks, first + per_chunk)) for first in range(0, n_blocks, per_chunk)]
    done = 0

    def run_chunk(blocks: range, workspace: Workspace) -> Tally:
        """One chunk of whole blocks; its samples start at ``blocks.start * block_size``."""
        first = blocks.start * block_size
        sizes = [min(block_size, samples - j * block_size) for j in blocks]
        draws: Draws | None = None
        with torch.no_grad():  # thread-local: set in the thread that runs the chunk
            if seeds is not None:
                assert loaded is not None
                built = [first]

                def tick(built: list[int] = built) -> bool:
                    built[0] += 1
                    bar.update(built[0])
                    return in_time()

                chunk_seeds = seeds[first : first + sum(sizes)].tolist()
                weights = rebuild_weights(loaded, chain, chunk_seeds, dev, dtype, tick)
                sizes = _first_samples(sizes, built[0] - first)  # fewer where the time limit stopped it
                run = Run(sizes, len(plan.hidden), dev)
                source = preloaded_source(weights)
            else:
                run = Run(sizes, len(plan.hidden), dev)
                gens = [block_generator(dev, seed, stream, j) for j in blocks]
                draws = Draws(gens, dtype, run.tally.drawn)
                source = batched_source(plan, draws)
            return engine(plan, run, draws, source, dtype, workspace)

    stopped = False
    threads_each = max(1, torch.get_num_threads() // workers) if dev.type == "cpu" else None
    try:
        for chunk_tally in _in_order(run_chunk, chunks, workers, lambda: Workspace(dev, dtype), threads_each):
            total.add(chunk_tally)
            done += chunk_tally.samples
            bar.update(done)
            if done < samples and not in_time():
                stopped = True
                break
    except KeyboardInterrupt:
        bar.close()
        raise ProbeInterrupted(result([f"interrupted: {total.samples} of {samples} samples"])) from None
    bar.close()
    if tally is not None:
        tally.add(total)
    if stopped:
        return result(
            [
                f"stopped at the time limit (--timeout {timeout:g} s): {total.samples} of {samples} samples;"
                " the estimate and its interval are over those"
            ]
        )
    return result()


def _first_samples(sizes: Sequence[int], n: int) -> list[int]:
    """Block sizes holding only the first ``n`` samples of blocks of ``sizes`` (a chunk stopped early)."""
    out = []
    for size in sizes:
        take = min(size, max(n, 0))
        if take:
            out.append(take)
        n -= take
    return out


def _size_text(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def _result(
    total: Tally,
    plan: Plan,
    dev: torch.device,
    seconds: float,
    init: str,
    chain: Chain,
    notes: list[str],
    *,
    requested: int,
) -> ProbeResult:
    n = total.samples
    ci = wilson_interval(total.born_dead, n)
    widths = [p.out_features for p in plan.hidden]
    fractions = tuple(d / (n * w * FIXED) for d, w in zip(total.dead_units, widths, strict=True)) if n else ()
    notes = notes + _bound_notes(chain, plan, total, init)
    return ProbeResult(
        samples=n,
        born_dead=total.born_dead,
        ci=ci,
        near_constant=total.near_constant,
        device=str(dev),
        seconds=seconds,
        method=plan.method,
        dead_unit_fraction=fractions,
        init=init,
        notes=tuple(notes),
        samples_requested=requested,
    )


def _bound_notes(chain: Chain, plan: Plan, tally: Tally, init: str) -> list[str]:
    """A warning when the count exceeds `collapse` Thm 8's upper bound beyond chance (the exact one-sided
    binomial test, `relulint.theory.binomial.exceeds_bound`), and why."""
    from relulint.theory.binomial import exceeds_bound
    from relulint.theory.collapse import p_born_dead_upper

    upper = p_born_dead_upper(chain.hidden_widths)
    if not exceeds_bound(tally.born_dead, tally.samples, upper):
        return []
    reasons = []
    laws = [p.weight.kind for p in plan.hidden if p.weight is not None]
    if plan.source == "reinstantiate":
        reasons.append("the weights come from custom code (the theorem needs independent symmetric entries)")
    if "orthogonal" in laws:
        reasons.append("orthogonal rows are dependent")
    if "rai" in laws or init == "rai":
        reasons.append("RAI is asymmetric (its bound is dying Thm 4.1)")
    if any(p.weight is not None and p.weight.mean != 0.0 for p in plan.hidden):
        reasons.append("the weights are not centred")
    if not plan.bias_free:
        reasons.append("the biases are not symmetric or not zero")
    if any(p.norm for p in plan.hidden):
        reasons.append("normalization layers")
    if not reasons:
        reasons.append("the inputs D are not a single fixed input")
    return [
        f"estimate above the collapse Thm 8 bound {upper:.4g} beyond chance (exact binomial test,"
        f" P(≥ {tally.born_dead} of {tally.samples} | bound) < 2.5 %): the theory does not cover this case"
        f" ({'; '.join(reasons)})"
    ]
