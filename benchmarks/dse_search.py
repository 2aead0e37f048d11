"""Design-space exploration figures: sweep throughput and NSGA-II against the
exhaustive front.

1. The shipped example sweeps (llama-tiny prefill; shape-only Llama-2-7B decode),
   their first 1000 points on local processes (one per core), timed end to end
   (lowering, worker start, evaluation, store), with the load average beside it.
2. On a space of a few thousand points (the llama-tiny example, 2,160 points),
   the exhaustive front's hypervolume over (latency, energy, -accuracy), each
   scaled to the space's range, reference point 1.1, against NSGA-II's with at
   most 20% of the points evaluated, for several seeds.

    .venv/bin/python benchmarks/dse_search.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bitsmith.dse import ResultStore, Space, load_sweep, open_executor, run_sweep
from bitsmith.dse.execute import lowered_workloads, score
from bitsmith.dse.pareto import hypervolume

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "dse"


def timed_sweep(name: str, folder: Path, budget: int = 1000) -> None:
    loaded = load_sweep(EXAMPLES / name)
    start = time.perf_counter()
    graphs = lowered_workloads(loaded.spec)
    lowered = time.perf_counter() - start
    with open_executor(None) as pool, ResultStore(folder / f"{name}.db") as store:
        run = run_sweep(Space(loaded), store, pool, strategy="grid", budget=budget, seed=0, graphs=graphs)
    seconds = time.perf_counter() - start
    print(f"{name}: {run.evaluated} points ({run.failed} failed) in {seconds:.1f} s end to end "
          f"(lowering {lowered:.1f} s), {run.evaluated / (seconds - lowered):.0f} points/s after lowering; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")


def nsga2_hypervolume(folder: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    loaded = load_sweep(EXAMPLES / "llama_tiny_codesign.yaml")
    space, spec = Space(loaded), loaded.spec
    graphs = lowered_workloads(spec)
    with open_executor(None) as pool:
        with ResultStore(folder / "exhaustive.db") as store:
            run_sweep(space, store, pool, strategy="grid", budget=None, seed=0, graphs=graphs)
            everything = store.outcomes()
        def matrix(outcomes: list) -> np.ndarray:
            return np.array([score(spec, o).objectives for o in outcomes if o.ok and score(spec, o).violation == 0])

        full = matrix(everything)
        low, high = full.min(axis=0), full.max(axis=0)
        reference = np.full(full.shape[1], 1.1)
        exhaustive = hypervolume((full - low) / (high - low), reference)
        budget = space.size // 5
        for seed in seeds:
            with ResultStore(folder / f"nsga2_{seed}.db") as store:
                run = run_sweep(space, store, pool, strategy="nsga2", budget=budget, seed=seed, graphs=graphs)
                found = hypervolume((matrix(store.outcomes()) - low) / (high - low), reference)
            print(f"nsga2 seed {seed}: {run.evaluated} of {space.size} points evaluated "
                  f"({run.evaluated / space.size:.0%}), hypervolume {found / exhaustive:.1%} of the exhaustive front's")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        timed_sweep("llama_tiny_codesign.yaml", Path(folder))
        timed_sweep("llama2_7b_decode.yaml", Path(folder))
        nsga2_hypervolume(Path(folder))
