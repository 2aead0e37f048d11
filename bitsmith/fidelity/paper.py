"""BitMoD's own analytical accounting, as its authors' simulator computes it.

Source: HPCA `bitmod_sim/accelerator.py` and `pe_array.py` (FACTS §1.4; the
repository and commit are in FACTS' table of sources). Per GEMM layer:

    pe_latency = ceil(floor(w_bits) / 2) if bit-serial else 1   (KV bits for QK^T and PV)
    tiles      = ceil(Cin/dp) * ceil(Cout/H) * ceil(tokens/W) * batch
    compute    = tiles * pe_latency
    bytes_W    = ceil(Cin*w_bits/8) * Cout * batch;  bytes_I, bytes_O at 16 bits
    refetch    : when bytes_W > 512 KiB and bytes_I > 512 KiB, refetch whichever
                 operand moves fewer bytes in total (weights ceil(bytes_I/512KiB)
                 times, or inputs ceil(bytes_W/512KiB) times)
    dram       = int((bytes_W*fw + bytes_I*fi + bytes_O) * 8 / 256)
    layer      = max(compute, dram);  total = sum over layers
    E_pe       = placed pe_energy * #PEs * sum(compute)   (every PE, every compute cycle)
    E_dram     = bytes moved * 8 * 18.75 pJ/bit

Attention is two GEMMs per KV head with K and V as the "weights" at the KV-cache
width; the query heads that share a KV head (grouped-query attention) fold into
the token dimension (`pe_array.py::_init_model_profiler`). Embeddings, norms,
softmax, elementwise ops, dequantisation cycles and datatype switches are not
counted. SRAM energies come from CACTI runs inside that simulator and are not
published, so they are left out here (the shipped targets leave them unknown too).

Why this lives in `bitsmith.fidelity` and not in `bitsmith.simulator`: it is not a
bitsmith cost model. It scores no mapping (house rule 10), has no memory
hierarchy, and exists only to restate another simulator's arithmetic so the
fidelity benchmark can separate "bitsmith models the hardware differently" from
"bitsmith is fed different shapes or parameters". It is fed the layer shapes
bitsmith's `workload` extracts and the parameters of the shipped target files, so
the only thing that differs from the cycle model is the accounting.

The 2024 revision (`published_revision=True`). The authors' plot notebooks
(`bitmod_sim/plot/speedup_plot.ipynb`, `energy_plot.ipynb`, unchanged since HPCA
commit 5b010b6, 2024-11-14) were produced by the simulator as first committed,
HPCA 48975fc (2024-11-14; the same blobs under `bitmod_sim/` until e445a5f,
2025-07-19, rewrote them). That revision differs from the released one in two
ways, and with them reproduces every cycle count in the speedup notebook exactly
(60 of 60: 5 designs x 6 models x prefill and decode) and the DRAM part of every
energy in the energy notebook:

- attention shapes (48975fc `sim/pe_array.py` lines 87-106): QK^T takes the
  queries of all heads as one `[q_tokens, hidden]` "weight" against
  `heads * q_tokens` "tokens" whose input rows are K (`hidden/heads*kv_heads`
  wide); PV takes the scores as a `[heads * q_tokens, keys]` "weight" against
  `q_tokens` tokens whose input rows are V. Both run once per layer, not per head
  (QK^T is so charged `heads` times its MACs), and both "weights" are charged at
  the activation width, 16 bits (48975fc `sim/accelerator.py` lines 92-93 and
  195-196: there was no KV width), at the weight width's bit-serial latency
  (`sim/pe_array.py` line 39: one `pe_latency` for every layer);
- widths (48975fc `sim/test_ant.py`, `test_olive.py` lines 12-33): ANT and OliVe
  charge one width in prefill (5.5 and 4.5 bits) and per-model widths in decode
  (`designs.Design.revision_bits`).

`revision_layers` rewrites the attention GEMMs into those shapes; `paper_cost`
applies it when the configuration asks for the revision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bitsmith.ir.graph import Graph
from bitsmith.ir.ops import Op
from bitsmith.simulator.memory import OperandBuffers
from bitsmith.simulator.problem import GemmProblem, LayerProblem
from bitsmith.targets.accelerator import Accelerator

ACT_BITS = 16  # i_prec: FP16 activations, inputs and outputs


@dataclass(frozen=True)
class PaperConfig:
    """What BitMoD's simulator is told about one design in one phase: the array
    (`rows` = H along output channels, `cols` = W along tokens), dot-product width,
    whether the PE is bit-serial, weight and KV bits (fractional: 6.0625 includes
    the 8-bit scale per 128), the placed energy per PE-cycle, SRAM sizes and DRAM."""

    rows: int
    cols: int
    dot_product_width: int
    bit_serial: bool
    bits_per_cycle: int
    weight_bits: float
    kv_bits: float
    placed_pe_energy_pj: float
    weight_sram_bytes: int
    input_sram_bytes: int
    dram_bytes_per_cycle: float
    dram_pj_per_bit: float
    published_revision: bool = False   # the 2024 revision's accounting (module docstring); kv_bits then unused

    @classmethod
    def of(cls, target: Accelerator, phase: str, weight_bits: float, kv_bits: float,
           published_revision: bool = False) -> PaperConfig:
        """The configuration of `target` arranged for `phase`, at these widths;
        `published_revision` selects the 2024 revision's accounting."""
        array = target.pe_array
        rows, cols = array.shape(phase)
        buffers = OperandBuffers.of(target)
        if array.placed_pe_energy_pj is None or target.dram_pj_per_bit is None:
            raise ValueError(f"target {target.name}: BitMoD's accounting needs the PE and DRAM energies")
        return cls(rows, cols, array.dot_product_width, array.pe == "bit_serial", array.bits_per_cycle or 1,
                   weight_bits, kv_bits, array.placed_pe_energy_pj,
                   target.buffers[buffers.buffer["weight"]].bytes, target.buffers[buffers.buffer["input"]].bytes,
                   target.dram_bytes_per_cycle, target.dram_pj_per_bit, published_revision)

    @property
    def pe_count(self) -> int:
        return self.rows * self.cols

    def pe_latency(self, bits: float) -> int:
        return math.ceil(math.floor(bits) / self.bits_per_cycle) if self.bit_serial else 1


@dataclass(frozen=True)
class PaperLayer:
    """One GEMM in the paper's terms: `batch` GEMMs of `tokens` x `cin` against
    `cin` x `cout`; `kv` marks attention (its "weights" are the K/V cache).
    `input_channels` is the width of an input row where it is not `cin` (only the
    2024 revision's attention, whose input is K or V while its "weight" is Q or the
    scores). `kv_width` (attention only) is the K or V channels per token as the
    model stores them, before a grouped-query expansion (`kv_heads * head_dim`)."""

    name: str
    tokens: int
    cin: int
    cout: int
    batch: int
    kv: bool
    input_channels: int | None = None
    kv_width: int | None = None


@dataclass(frozen=True)
class PaperCost:
    """Cycles (`compute`, `dram`, and per layer their max, summed in `cycles`) and
    energy in pJ of a set of layers under BitMoD's accounting."""

    cycles: int
    compute_cycles: int
    dram_cycles: int
    pe_energy_pj: float
    dram_energy_pj: float

    @property
    def energy_pj(self) -> float:
        return self.pe_energy_pj + self.dram_energy_pj

    def __add__(self, other: PaperCost) -> PaperCost:
        return PaperCost(self.cycles + other.cycles, self.compute_cycles + other.compute_cycles,
                         self.dram_cycles + other.dram_cycles, self.pe_energy_pj + other.pe_energy_pj,
                         self.dram_energy_pj + other.dram_energy_pj)

    def scaled(self, times: int) -> PaperCost:
        return PaperCost(self.cycles * times, self.compute_cycles * times, self.dram_cycles * times,
                         self.pe_energy_pj * times, self.dram_energy_pj * times)


def paper_layers(graph: Graph, problems: Sequence[LayerProblem]) -> list[PaperLayer]:
    """The GEMMs of bitsmith's `problems` (workload of `graph`) as the paper counts
    them; vector problems are dropped. An attention GEMM (`<node>.qk`, `<node>.pv`)
    runs once per KV head, its query heads folded into the tokens."""
    kv_heads = {node.name: math.prod(graph.value(node.inputs[1]).type.shape[:-2])
                for node in graph.nodes if node.op is Op.ATTENTION}
    kv_width = {node.name: _stored_kv_width(graph, node.inputs[1])
                for node in graph.nodes if node.op is Op.ATTENTION}
    layers = []
    for problem in problems:
        if not isinstance(problem, GemmProblem):
            continue
        if problem.op == str(Op.ATTENTION):
            node = problem.name.rsplit(".", 1)[0]
            heads = kv_heads[node]
            layers.append(PaperLayer(problem.name, problem.M * problem.batch // heads, problem.K, problem.N,
                                     heads, True, kv_width=kv_width[node]))
        else:
            layers.append(PaperLayer(problem.name, problem.M, problem.K, problem.N, problem.batch, False))
    return layers


def _stored_kv_width(graph: Graph, key: str) -> int:
    """K's channels per token before any grouped-query expansion: `key` traced back
    through the reshapes and expands that repeat the KV heads (`kv_heads * head_dim`)."""
    name = key
    while (node := graph.producer(name)) is not None and node.op in (Op.RESHAPE, Op.EXPAND):
        name = node.inputs[0]
    shape = graph.value(name).type.shape
    return math.prod(shape) // math.prod(graph.value(key).type.shape[-2:-1])


def revision_layers(layers: Sequence[PaperLayer]) -> list[PaperLayer]:
    """`layers` (as `paper_layers` gives them) with each attention GEMM in the 2024
    revision's shapes (module docstring; 48975fc `sim/pe_array.py` lines 87-106):
    QK^T -> `[q_tokens, hidden]` x `heads * q_tokens` tokens, PV -> `[heads *
    q_tokens, keys]` x `q_tokens` tokens, one of each per layer, input rows K or V
    (`kv_width`: `kv_heads * head_dim` before grouped-query expansion). `q_tokens`
    is the projections' token count."""
    q_tokens = next(layer.tokens for layer in layers if not layer.kv)
    out = []
    for layer in layers:
        if not layer.kv:
            out.append(layer)
            continue
        heads = layer.tokens * layer.batch // q_tokens
        if layer.name.endswith(".qk"):     # per KV head: [group*q_tokens, head_dim] x [head_dim, keys]
            head_dim = layer.cin
            kv_width = layer.kv_width or layer.batch * head_dim
            out.append(PaperLayer(layer.name, heads * q_tokens, heads * head_dim, q_tokens, 1, True, kv_width))
        else:                              # per KV head: [group*q_tokens, keys] x [keys, head_dim]
            keys, head_dim = layer.cin, layer.cout
            kv_width = layer.kv_width or layer.batch * head_dim
            out.append(PaperLayer(layer.name, q_tokens, keys, heads * q_tokens, 1, True, kv_width))
    return out


def layer_cost(layer: PaperLayer, config: PaperConfig) -> PaperCost:
    """One layer under the module docstring's formulas (in the 2024 revision,
    attention "weights" move at 16 bits and take the weights' bit-serial latency)."""
    if config.published_revision:
        w_bits = ACT_BITS if layer.kv else config.weight_bits
        latency = config.pe_latency(config.weight_bits)
    else:
        w_bits = config.kv_bits if layer.kv else config.weight_bits
        latency = config.pe_latency(w_bits)
    tiles = (math.ceil(layer.cin / config.dot_product_width) * math.ceil(layer.cout / config.rows)
             * math.ceil(layer.tokens / config.cols) * layer.batch)
    compute = tiles * latency
    bytes_w = math.ceil(layer.cin * w_bits / 8) * layer.cout * layer.batch
    bytes_i = math.ceil((layer.input_channels or layer.cin) * ACT_BITS / 8) * layer.tokens * layer.batch
    bytes_o = math.ceil(layer.cout * ACT_BITS / 8) * layer.tokens * layer.batch
    fetch_w, fetch_i = _refetch(bytes_w, bytes_i, config)
    moved = bytes_w * fetch_w + bytes_i * fetch_i + bytes_o
    dram = int(moved / config.dram_bytes_per_cycle)
    return PaperCost(max(compute, dram), compute, dram, config.placed_pe_energy_pj * config.pe_count * compute,
                     moved * 8 * config.dram_pj_per_bit)


def _refetch(bytes_w: int, bytes_i: int, config: PaperConfig) -> tuple[int, int]:
    """(weight fetches, input fetches): `accelerator.py::_calc_num_mem_refetch`."""
    if bytes_w <= config.weight_sram_bytes or bytes_i <= config.input_sram_bytes:
        return 1, 1
    weight_times = math.ceil(bytes_i / config.input_sram_bytes)
    input_times = math.ceil(bytes_w / config.weight_sram_bytes)
    if weight_times * bytes_w + bytes_i < input_times * bytes_i + bytes_w:
        return weight_times, 1
    return 1, input_times


def paper_cost(layers: Iterable[PaperLayer], config: PaperConfig) -> PaperCost:
    """The sum over `layers` (the simulator's `calc_cycle` and energy totals); under
    `config.published_revision`, over `revision_layers(layers)`."""
    if config.published_revision:
        layers = revision_layers(list(layers))
    total = PaperCost(0, 0, 0, 0.0, 0.0)
    for layer in layers:
        total = total + layer_cost(layer, config)
    return total
