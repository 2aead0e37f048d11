"""What the simulator is asked to cost, and what it answers, per layer.

A graph reaches the engines as a list of layer problems (workload.py builds them):

- `GemmProblem`: one GEMM-like node as `batch` independent GEMMs of
  `M` rows (tokens) x `K` (reduction) against `K x N` weights (`linear`, `conv2d`
  via im2col, `matmul`, and attention as two GEMMs, QK^T and PV, whose "weights"
  are the K and V caches at the KV-cache format, as BitMoD's simulator counts them,
  FACTS §1.4);
- `VectorProblem`: a non-GEMM node (norms, softmax, elementwise, data movement)
  for the target's vector unit.

The engines answer each with a `LayerResult`: cycles, what each unit was busy
with, the actions taken (for energy), and the memory traffic. Figures are integers
of cycles and bytes; energies are computed from `actions` by energy.py, never by
an engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GemmProblem:
    """`batch` GEMMs `[M, K] x [K, N] -> [M, N]`.

    `weight_format`: the name the PE decodes (a format, mixture, MX or OliVe
    scheme; or a wide type such as `f16` for an unquantised weight);
    `weight_bits`: element bits the PE walks (bit-serial passes, LUT planes);
    `weight_bits_per_element`: stored bits per weight with metadata, what DRAM and
    SRAM move (4.0625 for BitMoD w4 g128 with 8-bit scales); `group_size`: weights
    per scale along K (None: one per output channel); `act_bits` / `out_bits`:
    activation and output element bits. Every operand starts in DRAM and the
    output ends there (attention's K/V are read as a cache, as BitMoD counts them).
    `weight_reuse`: whether each weight meets more than one activation row (False
    for a GEMV), which Loom needs (FACTS §4).
    """

    name: str
    op: str
    M: int
    N: int
    K: int
    weight_format: str
    weight_bits: int
    weight_bits_per_element: float
    act_bits: int = 16
    out_bits: int = 16
    batch: int = 1
    group_size: int | None = None
    weight_reuse: bool = True

    def __post_init__(self) -> None:
        for name in ("M", "N", "K", "batch", "weight_bits", "act_bits", "out_bits"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"layer {self.name}: {name} must be a positive integer, got {value!r}")
        if self.group_size is not None and (type(self.group_size) is not int or self.group_size < 1):
            raise ValueError(f"layer {self.name}: group_size must be a positive integer or None")
        if self.weight_bits_per_element < self.weight_bits:
            raise ValueError(f"layer {self.name}: stored bits per weight {self.weight_bits_per_element} "
                             f"< element bits {self.weight_bits}")

    @property
    def macs(self) -> int:
        return self.batch * self.M * self.N * self.K

    @property
    def weight_bytes(self) -> float:
        return self.batch * self.K * self.N * self.weight_bits_per_element / 8

    @property
    def input_bytes(self) -> float:
        return self.batch * self.M * self.K * self.act_bits / 8

    @property
    def output_bytes(self) -> float:
        return self.batch * self.M * self.N * self.out_bits / 8


@dataclass(frozen=True)
class VectorProblem:
    """A non-GEMM node: `elements` output elements, `ops_per_element` vector-unit
    operations each (e.g. softmax: exp, sum, divide), reading `input_bytes` and
    writing `output_bytes`.

    An epilogue op (fused into a GEMM, ir/ops.py) names that GEMM's layer in
    `fused_into`: it runs on the GEMM's results as they drain, so its bytes are only
    its other operands (a residual), and it may hide behind the GEMM's run.
    `hidden_cycles` is how much of that run is still free to hide behind; it is not
    known when the workload is built, so `engines.simulate_layers` fills it in from
    the GEMM's simulated cycles (0 otherwise)."""

    name: str
    op: str
    elements: int
    ops_per_element: int
    input_bytes: float
    output_bytes: float
    fused_into: str | None = None
    hidden_cycles: int = 0

    def __post_init__(self) -> None:
        if type(self.hidden_cycles) is not int or self.hidden_cycles < 0:
            raise ValueError(f"layer {self.name}: hidden_cycles must be a non-negative integer")
        if self.hidden_cycles and self.fused_into is None:
            raise ValueError(f"layer {self.name}: only an epilogue op (fused_into a GEMM) hides cycles")


LayerProblem = GemmProblem | VectorProblem


@dataclass(frozen=True)
class LayerResult:
    """One layer as an engine ran it.

    `cycles`: first start to last finish; `busy_cycles`: per unit (`array`,
    `dram`, `vector`, and PE-internal units such as `dequant`), each the cycles it
    was busy; `stall_cycles`: per cause (`dram`: the array waiting for data,
    `dequant`, ...); `actions`: counts per named action (`pe_cycle` (summed over
    PEs), `mac`, `term`, `table_read`, `sram_read:<buffer>`, `sram_write:<buffer>`
    (port-width accesses), `dram_bit`, `vector_op`, ...); `dram_bytes` and
    `sram_bytes` moved; `utilisation`: useful MACs / (PE lanes x cycles) for GEMMs;
    `mapping`: the tile and loop order chosen (text, for reports);
    `hidden_cycles`: an epilogue op's cycles spent under its GEMM's run, not
    counted in `cycles` (engines/vector.py).
    """

    name: str
    op: str
    cycles: int
    busy_cycles: dict[str, int] = field(default_factory=dict)
    stall_cycles: dict[str, int] = field(default_factory=dict)
    actions: dict[str, float] = field(default_factory=dict)
    dram_bytes: float = 0.0
    sram_bytes: dict[str, float] = field(default_factory=dict)
    macs: int = 0
    utilisation: float = 0.0
    mapping: str = ""
    hidden_cycles: int = 0
