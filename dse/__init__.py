"""bitsmith.dse: design-space exploration, hardware x datatype co-search.

A sweep file (spec.py) names a base target, the hardware fields and quantisation
choices to vary, the workloads, objectives and constraints. Its space (space.py)
is searched by a strategy (strategies.py: grid, random, NSGA-II), points are
evaluated through any concurrent.futures executor (execute.py, evaluate.py),
every outcome is appended to a SQLite store keyed by the point's hash
(store.py), and the Pareto front is reported as table, CSV/Parquet and plots
(pareto.py, report.py). `bitsmith explore` is the command line.
"""

from bitsmith.dse.execute import open_executor, run_sweep
from bitsmith.dse.space import Space
from bitsmith.dse.spec import SweepError, load_sweep
from bitsmith.dse.store import ResultStore

__all__ = ["ResultStore", "Space", "SweepError", "load_sweep", "open_executor", "run_sweep"]
