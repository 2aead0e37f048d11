"""One design on one model's workload, costed two ways, plus the cycle model with
its parts taken out one at a time.

Modes (`MODES`, each a row of the fidelity tables):

- `paper`: BitMoD's analytical accounting (paper.py), as its released code has it;
- `paper@48975fc`: the same accounting as the simulator's 2024 revision (HPCA
  commit 48975fc) had it, which produced the published plot data: its attention
  shapes and 16-bit attention operands, and its per-phase widths
  (`Design.revision_weight_bits`); see paper.py's docstring;
- `cycle`: bitsmith's cycle model (`simulate_layer` on every layer problem, vector
  jobs included), energy from `simulator.energy`;
- the ablation ladder, each step removing one more thing the paper does not count
  and re-running the cycle model, so the gap between `cycle` and `paper` is
  measured, not argued: `-vector` drops the non-GEMM layers (norms, softmax,
  elementwise, data movement), `-dequant` also drops the group scales (BitMoD's
  PE then has no bit-serial rescale to wait for), `-ports` also makes the SRAM
  ports unlimited (no `sram_port` stalls; the shipped targets state each phase's
  port widths by BitMoD's rule, so what this removes is the port limit itself,
  which the paper's accounting never applies),
  `-buffers` also gives every operand a double-buffer half as large as the
  paper's whole buffer (512 KiB; bitsmith double-buffers and shares the input
  SRAM between inputs and outputs, so a block holds a quarter of it, and a
  prefill refetches its weights once per such input block). What is left between
  `-buffers` and `paper` is the array's fold skew and drain and the step-by-step
  DRAM/compute pipeline with its first load and last store exposed, where the
  paper takes max(compute, DRAM) per layer.

Energy in both modes is the PE array plus DRAM: SRAM energies are CACTI outputs
BitMoD never published (left unknown in the targets) and no target states a
vector-unit energy, so comparing the known parts is the only like-for-like choice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from bitsmith.compiler import prepare_weights
from bitsmith.fidelity.designs import DECODE_CACHE, DECODE_TOKENS, PREFILL_TOKENS, Design, design_problems
from bitsmith.fidelity.paper import ACT_BITS, PaperConfig, PaperLayer, paper_cost, paper_layers
from bitsmith.ir.graph import Graph
from bitsmith.simulator.energy import layer_energy
from bitsmith.simulator.engines import simulate_layer
from bitsmith.simulator.memory import OperandBuffers
from bitsmith.simulator.problem import GemmProblem, LayerProblem
from bitsmith.simulator.workload import workload
from bitsmith.targets import Accelerator, load_target
from bitsmith.targets.fields import format_bits

PAPER, CYCLE = "paper", "cycle"
REVISION = "paper@48975fc"   # the 2024 revision of BitMoD's simulator, behind the plot notebooks
LADDER = ("-vector", "-dequant", "-ports", "-buffers")   # cumulative: each also removes the ones before it
MODES = (PAPER, REVISION, CYCLE, *LADDER)
PHASE_OF = {"discriminative": ("prefill",), "generative": ("prefill", "decode")}


@dataclass(frozen=True)
class Totals:
    """Cycles and the known energy (pJ) of a workload: PE array and DRAM."""

    cycles: float
    pe_pj: float
    dram_pj: float

    @property
    def energy_pj(self) -> float:
        return self.pe_pj + self.dram_pj

    @property
    def dram_share(self) -> float:
        return self.dram_pj / self.energy_pj

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.cycles + other.cycles, self.pe_pj + other.pe_pj, self.dram_pj + other.dram_pj)

    def times(self, n: int) -> Totals:
        return Totals(self.cycles * n, self.pe_pj * n, self.dram_pj * n)


ZERO = Totals(0.0, 0.0, 0.0)


@dataclass(frozen=True)
class PhaseWork:
    """One lowered phase of a model: bitsmith's FP16 layer problems (the shapes
    every design shares) and the same GEMMs in the paper's terms."""

    phase: str
    problems: tuple[LayerProblem, ...]
    layers: tuple[PaperLayer, ...]


@functools.cache
def phase_work(model: str, phase: str) -> PhaseWork:
    """`model` lowered for `phase` (cached for the run: a 7B model takes ~10 s)."""
    from bitsmith.api import lower

    seq_len = PREFILL_TOKENS if phase == "prefill" else DECODE_CACHE
    graph: Graph = lower(model, seq_len=seq_len, phase=phase)
    base = load_target("fp16_mac")
    problems = workload(prepare_weights(graph, base), base)
    return PhaseWork(phase, tuple(problems), tuple(paper_layers(graph, problems)))


def _ablated(target: Accelerator, problems: list[LayerProblem], mode: str) -> tuple[Accelerator, list[LayerProblem]]:
    """`target` and `problems` with the ladder's removals up to `mode` applied."""
    depth = LADDER.index(mode) + 1 if mode in LADDER else 0
    if depth >= 1:
        problems = [p for p in problems if isinstance(p, GemmProblem)]
    if depth >= 2:
        problems = [replace(p, group_size=None) for p in problems]
    if depth >= 3:
        target = target.override({f"buffers.{name}.{field}": None for name in target.buffers
                                  for field in ("port_width", "phases")})
    if depth >= 4:
        buffers = OperandBuffers.of(target)
        sharers = {name: list(buffers.buffer.values()).count(name) for name in target.buffers}
        target = target.override({f"buffers.{name}.size": f"{buffer.bytes * 2 * sharers[name]}B"
                                  for name, buffer in target.buffers.items()})
    return target, problems


def cycle_totals(target: Accelerator, problems: list[LayerProblem], phase: str) -> Totals:
    """The cycle model's cycles and PE + DRAM energy over `problems`."""
    cycles, pe, dram = 0, 0.0, 0.0
    for problem in problems:
        result = simulate_layer(problem, target, phase=phase)
        parts = layer_energy(result, target).components
        cycles += result.cycles
        pe += parts.get("pe_array") or 0.0
        dram += parts.get("dram") or 0.0
    return Totals(cycles, pe, dram)


def phase_totals(design: Design, model: str, workload_name: str, phase: str, mode: str) -> Totals:
    """One phase (one prefill, or one decode step) of `design` on `model`, at the
    widths it runs in `workload_name`, under `mode`."""
    work = phase_work(model, phase)
    target = design.accelerator()
    if mode in (PAPER, REVISION):
        if mode == PAPER:
            config = PaperConfig.of(target, phase, design.weight_bits(workload_name, model),
                                    format_bits(target.formats.kv_cache))
        else:
            config = PaperConfig.of(target, phase, design.revision_weight_bits(phase, model), ACT_BITS,
                                    published_revision=True)
        cost = paper_cost(work.layers, config)
        return Totals(cost.cycles, cost.pe_energy_pj, cost.dram_energy_pj)
    problems = design_problems(list(work.problems), design, target, workload_name, model)
    return cycle_totals(*_ablated(target, problems, mode), phase)


@functools.cache
def workload_totals(design: Design, model: str, workload_name: str, mode: str) -> Totals:
    """A whole workload: the prefill, plus 20 decode steps for generative."""
    total = ZERO
    for phase in PHASE_OF[workload_name]:
        step = phase_totals(design, model, workload_name, phase, mode)
        total = total + (step.times(DECODE_TOKENS) if phase == "decode" else step)
    return total
