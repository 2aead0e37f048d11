"""Run a sweep: choose points (strategies.py), evaluate them through an executor,
append the outcomes to the store, and score them for the search.

Any `concurrent.futures.Executor` works. `open_executor` gives the usual ones:
local processes (the default: one per core, started with `spawn` so no torch
state is forked), a Dask cluster at `tcp://HOST:PORT`, or `local:N`, a Dask
LocalCluster of N single-threaded worker processes started here; Dask's
`Client.get_executor()` is the executor either way.

The shared work is done here, once: each workload is lowered and canonicalised
in this process and travels with every task (a lowered Llama-2-7B is ~0.2 MB
pickled, a few ms); workers cache what they derive from it (evaluate.py). Points
go out in batches, so one task costs one round trip for many points, and come
back batch by batch: each is committed to the store as it arrives, so a killed
sweep loses at most the batches in flight. Points already in the store are
read from it, not evaluated again.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass

from bitsmith.dse.evaluate import Outcome, Task, evaluate_batch
from bitsmith.dse.space import Genome, Space
from bitsmith.dse.spec import OBJECTIVES, SweepError, SweepSpec
from bitsmith.dse.store import ResultStore
from bitsmith.dse.strategies import Score, run_strategy
from bitsmith.ir.graph import Graph

Progress = Callable[[int, int], None]  # (points newly finished, points read from the store)


@contextmanager
def open_executor(cluster: str | None = None, workers: int | None = None) -> Iterator[Executor]:
    """The executor a sweep runs on (module docstring); raises SweepError for an
    address that is malformed or cannot be reached."""
    if cluster is None:
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool
        return
    from distributed import Client, LocalCluster

    if cluster.startswith("local:"):
        count = cluster.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise SweepError(f"--cluster {cluster}: local:N needs a positive number of workers")
        with LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True, dashboard_address=None) as local, \
                Client(local) as client:
            yield client.get_executor()
        return
    if not cluster.startswith("tcp://"):
        raise SweepError(f"--cluster {cluster}: give tcp://HOST:PORT (a Dask scheduler) or local:N")
    try:
        client = Client(cluster, timeout="5s")
    except (OSError, TimeoutError) as err:
        raise SweepError(f"--cluster {cluster}: cannot reach a Dask scheduler: {' '.join(str(err).split())}") from None
    with client:
        yield client.get_executor()


def lowered_workloads(spec: SweepSpec) -> tuple[Graph, ...]:
    """Each workload lowered and canonicalised: the sweep's shared work."""
    from bitsmith.api import lower
    from bitsmith.passes.pipeline import Pipeline
    from bitsmith.passes.pipelines import DEFAULT_PASSES  # noqa: F401  (registers the passes)

    canonical = Pipeline.of(["canonicalize"], origin="sweep")
    return tuple(canonical.run(lower(w.model, seq_len=w.seq_len, phase=w.phase, batch=w.batch)).graph
                 for w in spec.workloads)


@dataclass
class SweepRun:
    """Counts of one run of a sweep."""

    evaluated: int = 0
    reused: int = 0
    failed: int = 0


def run_sweep(space: Space, store: ResultStore, executor: Executor, *, strategy: str, budget: int | None,
              seed: int, graphs: Sequence[Graph] | None = None, batch_size: int | None = None,
              progress: Progress | None = None) -> SweepRun:
    """Evaluate the strategy's points (module docstring); returns what was done."""
    spec = space.sweep.spec
    store.record_sweep(spec.name, spec.model_dump(mode="json"))
    graphs = tuple(graphs) if graphs is not None else lowered_workloads(spec)
    workers = _workers(executor)
    run = SweepRun()

    def evaluate(genomes: Sequence[Genome]) -> list[Score]:
        configs = [space.config(g) for g in genomes]
        hashes = [space.point_hash(c) for c in configs]
        known = store.get(hashes)
        todo = [(h, c) for h, c in dict(zip(hashes, configs, strict=True)).items() if h not in known]
        run.reused += len(hashes) - len(todo)
        if progress is not None and len(hashes) > len(todo):
            progress(0, len(hashes) - len(todo))
        size = batch_size or max(1, min(32, math.ceil(len(todo) / (4 * workers))))
        futures = [executor.submit(evaluate_batch, Task(space.context, graphs, tuple(todo[i:i + size])))
                   for i in range(0, len(todo), size)]
        for future in as_completed(futures):
            outcomes = future.result()
            store.add(outcomes, spec.name)
            known.update((o.hash, o) for o in outcomes)
            run.evaluated += len(outcomes)
            run.failed += sum(not o.ok for o in outcomes)
            if progress is not None:
                progress(len(outcomes), 0)
        return [score(spec, known[h]) for h in hashes]

    run_strategy(space, evaluate, strategy, budget=budget, seed=seed, population=spec.search.population)
    return run


def score(spec: SweepSpec, outcome: Outcome) -> Score:
    """Objectives to minimise (accuracy negated) and the total relative amount by
    which the point breaks its constraints."""
    if not outcome.ok:
        return Score(tuple(math.inf for _ in spec.objectives), math.inf)
    objectives = tuple(signed(name, outcome.figures[OBJECTIVES[name][0]]) for name in spec.objectives)
    return Score(objectives, violation(spec, outcome))


def signed(objective: str, value: float) -> float:
    return -value if OBJECTIVES[objective][2] else value


def violation(spec: SweepSpec, outcome: Outcome) -> float:
    total = 0.0
    for name, bound in spec.constraints.items():
        value = outcome.figures[OBJECTIVES[name][0]]
        for limit, excess in ((bound.max, value - (bound.max or 0)), (bound.min, (bound.min or 0) - value)):
            if limit is not None and excess > 0:
                total += excess / max(abs(limit), 1e-30)
    return total


def _workers(executor: Executor) -> int:
    """How many tasks the executor runs at once, to size batches."""
    count = getattr(executor, "_max_workers", None)
    client = getattr(executor, "_client", None)
    if client is not None:
        count = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values())
    return max(1, count or os.cpu_count() or 1)
