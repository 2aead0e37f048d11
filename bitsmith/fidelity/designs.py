"""The designs and workloads of BitMoD's evaluation (FACTS §1.3, §1.5, §7).

Each design is a shipped target plus the weight widths BitMoD's simulator charges
it, which are not all formats of their own: ANT's widths are per-model averages of
its 4- and 8-bit layers, "profiled offline" (HPCA `bitmod_sim/test_ant.py`), and
every BitMoD width includes the 8-bit scale per 128 weights (`test_bitmod.py`).
Both accounting modes get these same widths, so a difference between them is a
modelling difference, never a format difference.

Workloads (batch 1): discriminative = one 256-token prefill; generative = that
prefill plus 20 decode tokens, each costed as one decode step against a 256-entry
KV cache and multiplied by 20, as the authors' plot notebooks compose them
(FACTS §1.5). bitsmith's decode graph for a cache of S tokens attends to S + 1
keys, so it is lowered with S = 255.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from bitsmith.simulator.problem import GemmProblem, LayerProblem
from bitsmith.targets import Accelerator, load_target
from bitsmith.targets.fields import format_bits

# Zoo names in the paper's order (FACTS §1.5 tables, §7 configurations).
MODELS = ("opt-1.3b", "phi-2", "yi-6b", "llama2-7b", "llama2-13b", "llama3-8b")
MODEL_LABELS = {"opt-1.3b": "OPT-1.3B", "phi-2": "Phi-2", "yi-6b": "Yi-6B", "llama2-7b": "Llama-2-7B",
                "llama2-13b": "Llama-2-13B", "llama3-8b": "Llama-3-8B"}
WORKLOADS = ("discriminative", "generative")
PREFILL_TOKENS = 256
DECODE_CACHE = 255          # lowered cache length: the decode step attends to 255 + 1 = 256 keys
DECODE_TOKENS = 20


@dataclass(frozen=True, eq=False)
class Design:
    """A design of BitMoD's evaluation: `target` (shipped name), the weight format
    the PE decodes per workload, and the bits per weight the simulator charges:
    `bits` per workload unless `model_bits` names the model. Compared (and
    cached) by identity."""

    name: str
    target: str
    formats: dict[str, str]
    bits: dict[str, float]
    model_bits: dict[str, float]
    # The 2024 simulator revision's widths (paper.py docstring), per phase: a width
    # for every model, or a dict per model. A phase not named charges the
    # workload's width whose prefill or decode it is (prefill: discriminative).
    revision_bits: dict[str, float | dict[str, float]] = field(default_factory=dict)

    def weight_bits(self, workload: str, model: str) -> float:
        return self.model_bits.get(model, self.bits[workload])

    def revision_weight_bits(self, phase: str, model: str) -> float:
        """Bits per weight in the 2024 revision: set per phase, as its `test_*.py`
        chose them by `--is_generation`, not per workload, so a generative
        workload's prefill is the discriminative one (as the notebooks compose it)."""
        bits = self.revision_bits.get(phase)
        if bits is None:
            return self.weight_bits("discriminative" if phase == "prefill" else "generative", model)
        return bits[model] if isinstance(bits, dict) else bits

    def accelerator(self) -> Accelerator:
        return load_target(self.target)


def _both(value: float | str) -> dict:
    return {workload: value for workload in WORKLOADS}


# Sources: FACTS §1.3 simulator-parameter table and §1.1 lossless/lossy widths
# (HPCA bitmod_sim/test_{baseline,bitmod,ant,olive}.py).
FP16 = Design("FP16", "fp16_mac", _both("f16"), _both(16.0), {})
BITMOD_LL = Design("BitMoD-LL", "bitmod", _both("int6"), _both(6.0625), {})
# revision_bits: HPCA 48975fc `sim/test_ant.py` / `sim/test_olive.py` lines 12-33 (prefill width, then the
# per-model decode widths), the widths behind the plot notebooks (paper.py docstring).
ANT = Design("ANT", "ant", _both("ant4"), _both(5.0),
             {"opt-1.3b": 5.0, "phi-2": 5.0, "yi-6b": 5.25, "llama2-7b": 5.0, "llama2-13b": 4.0, "llama3-8b": 5.0},
             {"prefill": 5.5, "decode": {"opt-1.3b": 5.0, "phi-2": 5.0, "yi-6b": 5.25, "llama2-7b": 5.0,
                                         "llama2-13b": 5.0, "llama3-8b": 4.5}})
OLIVE = Design("OliVe", "olive", _both("olive4"), _both(4.0), {"llama3-8b": 4.5},
               {"prefill": 4.5, "decode": {"opt-1.3b": 3.875, "phi-2": 4.0, "yi-6b": 4.25, "llama2-7b": 3.75,
                                           "llama2-13b": 3.75, "llama3-8b": 3.5}})
BITMOD_LY = Design("BitMoD-LY", "bitmod_lossy", {"discriminative": "bitmod4", "generative": "bitmod3"},
                   {"discriminative": 4.0625, "generative": 3.0625}, {})
DESIGNS = (FP16, BITMOD_LL, ANT, OLIVE, BITMOD_LY)
COMPARED = DESIGNS[1:]   # the designs whose ratios over FP16 are published


def bitmod_at(bits: int) -> Design:
    """BitMoD at `bits`-bit weights with an 8-bit scale per 128 (the decode-cycle
    sweep of FACTS §1.5: 3/4/5/6/8 bits)."""
    fmt = {3: "bitmod3", 4: "bitmod4"}.get(bits, f"int{bits}")
    return Design(f"BitMoD w{bits}", "bitmod", _both(fmt), _both(bits + 8 / 128), {})


def design_problems(problems: list[LayerProblem], design: Design, target: Accelerator, workload: str,
                    model: str) -> list[LayerProblem]:
    """bitsmith's layer problems with `design`'s widths: weight GEMMs at its format
    and charged bits (element bits = floor, as the paper's pe_latency floors them;
    its group size, so BitMoD's PE rescales groups); attention at the target's
    KV-cache format. Shapes and vector problems are left as they are."""
    bits = design.weight_bits(workload, model)
    kv = target.formats.kv_cache
    out: list[LayerProblem] = []
    for problem in problems:
        if not isinstance(problem, GemmProblem):
            out.append(problem)
        elif problem.op == "attention":
            out.append(replace(problem, weight_format=kv, weight_bits=format_bits(kv),
                               weight_bits_per_element=float(format_bits(kv)), group_size=None))
        else:
            out.append(replace(problem, weight_format=design.formats[workload], weight_bits=math.floor(bits),
                               weight_bits_per_element=bits, group_size=target.formats.group_size))
    return out
