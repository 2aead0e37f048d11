"""Mapping and plan rules: the default tile worked out by hand, checks on a given
mapping, untileable layers, and the load/store/refetch rule on hand-counted steps."""

from __future__ import annotations

import numpy as np
import pytest

from bitsmith.simulator.engines import plan_layer, simulate_layer
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.mapping import Mapping
from bitsmith.simulator.problem import GemmProblem
from bitsmith.targets import load_target, target_from_dict


def test_default_mapping_llama_projection_on_bitmod() -> None:
    # bitmod prefill 32 x 32: fold tile M 32, N 32, K 4, K blocks in groups of 128 -> unit 128.
    # Halves: weight 512 KiB / 2 = 262144 B; input and output share the 512 KiB input SRAM:
    # 262144 each, half 131072 B.
    # M=256, N=4096, K=4096, int6 at 6.0625 bits: weights 4096*N*6.0625/8 fit for N = 64
    # (198656 B; N = 128 gives 397312). Inputs 256*4096*2 = 2 MiB: M halves to 32 (262144 B),
    # still too big, so K halves to 2048: 32*2048*2 = 131072 B. Outputs 32*64*2 fit.
    # Order: 8 M blocks, 64 N blocks, 2 K blocks; neither operand resident: "nmk" refetches
    # the 2 MiB inputs 63 more times (132 MB), "mnk" the 12.7 MB weights 7 more times
    # (89 MB): "mnk".
    problem = GemmProblem("q_proj", "linear", 256, 4096, 4096, "int6", 6, 6.0625, group_size=128)
    plan = plan_layer(problem, load_target("bitmod"))
    assert plan.mapping == Mapping(32, 64, 2048, "mnk")
    assert plan.steps == 8 * 64 * 2


def test_untileable_layer_is_one_line_naming_the_layer() -> None:
    # A scale group of 4096 forces K blocks of 4096 on bitmod; one 32-token input block is then
    # 32*4096*2 = 262144 B, twice the input half (131072 B).
    problem = GemmProblem("blocks.3.mlp", "linear", 64, 64, 8192, "int6", 6, 6.0625, group_size=4096)
    with pytest.raises(SimulationError) as error:
        simulate_layer(problem, load_target("bitmod"))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("layer blocks.3.mlp: cannot tile 64x64x8192 into bitmod's buffers")
    assert "input block is 262144 B" in message


def test_untileable_weights_on_a_small_buffer() -> None:
    # fp16_mac decode: the smallest weight block is one fold's, K 1 x N 64 f16 = 128 B, more
    # than half of a 128 B weight buffer.
    tiny = target_from_dict({"name": "tiny", "extends": "fp16_mac", "buffers": {"weight": {"size": "128B"}}})
    problem = GemmProblem("fc1", "linear", 1, 64, 64, "f16", 16, 16.0)
    with pytest.raises(SimulationError, match=r"^layer fc1: cannot tile .* one array tile's weight block is 128 B"):
        simulate_layer(problem, tiny, phase="decode")


def test_untileable_inputs_when_input_stationary() -> None:
    # int8_systolic with a 64 KiB unified buffer (inputs only: half 32768 B). M=256, N=64,
    # K=512 int8. Weight-stationary (fold tile M 1) shrinks M to 64: a 64 x 512 input block is
    # 32768 B. Input-stationary holds a fold of 256 tokens x 256 of K, so the smallest input
    # block is 256*256 = 65536 B: untileable.
    small = load_target("int8_systolic").override({"buffers.unified_buffer.size": "64KiB"})
    problem = GemmProblem("fc2", "linear", 256, 64, 512, "int8", 8, 8.0, act_bits=8)
    assert plan_layer(problem, small).mapping == Mapping(64, 256, 512, "nmk")
    with pytest.raises(SimulationError) as error:
        simulate_layer(problem, small.override({"pe_array.dataflow": "input_stationary"}))
    assert str(error.value) == ("layer fc2: cannot tile 256x64x512 into int8_systolic's buffers: one array tile's "
                                "input block is 65536 B, more than half of its 'unified_buffer' share (32768 B, "
                                "double-buffered)")


@pytest.mark.parametrize(("mapping", "why"), [
    (Mapping(33, 64, 64), "tile M must be a positive multiple of the array's 32"),
    (Mapping(32, 32, 6), "a K tile shorter than K=64 must be a multiple of 4"),
    (Mapping(32, 32, 64, "nmm"), "loop order must be a permutation"),
    (Mapping(2048, 32, 64), "one input block is 262144 B, more than half"),
])
def test_given_mapping_is_checked(mapping: Mapping, why: str) -> None:
    problem = GemmProblem("fc", "linear", 2048, 64, 64, "f16", 16, 16.0)
    with pytest.raises(SimulationError, match=f"^layer fc: mapping .* on bitmod: {why}"):
        simulate_layer(problem, load_target("bitmod"), mapping=mapping)


def test_refetch_rule_and_partial_sum_spills() -> None:
    # bitfusion (weight-stationary 16 x 32, int8 x int8: fold tile M 1, N 32, K 16):
    # weight 64 KiB (half 32768 B), input 32 KiB (half 16384), output 16 KiB (half 8192).
    # M=64, N=64, K=1024 int8: weights 64 KiB and inputs 64 KiB are not resident; outputs
    # (64*64*2 = 8192 B) are. Tiles M32 N32 K512: a weight or input block is 16384 B.
    problem = GemmProblem("fc", "linear", 64, 64, 1024, "int8", 8, 8.0, act_bits=8)
    target = load_target("bitfusion")
    # "nmk": steps (n,m,k) = 000 001 010 011 100 101 110 111. The weight block (k,n) and the
    # input block (m,k) change every step: 8 loads of each; weights move 2 x 64 KiB (once per
    # M block), inputs 2 x 64 KiB (once per N block). Resident outputs: stored on their last
    # visit, 4 blocks of 32*32*2 = 2048 B.
    nmk = plan_layer(problem, target, mapping=Mapping(32, 32, 512, "nmk"))
    assert nmk.load_bytes[:, 0].tolist() == [16384] * 8
    assert nmk.load_bytes[:, 1].tolist() == [16384] * 8
    assert nmk.store_bytes.tolist() == [0, 2048] * 4
    # "kmn": steps (k,m,n) = 000 001 010 011 100 101 110 111. Inputs (m,k) change every other
    # step: 4 loads. Outputs fit, so partial sums stay: no reloads; stores on the last visit
    # (the k=1 steps).
    kmn = plan_layer(problem, target, mapping=Mapping(32, 32, 512, "kmn"))
    assert kmn.load_bytes[:, 1].tolist() == [16384, 0] * 4
    assert kmn.load_bytes[:, 2].tolist() == [0] * 8
    assert kmn.store_bytes.tolist() == [0] * 4 + [2048] * 4


def test_partial_sums_spill_when_outputs_do_not_fit() -> None:
    # Same layer with M=128: outputs 128*64*2 = 16 KiB > 8192 B are not resident. "kmn" with
    # M32 N32 K512: 16 steps (k, m in 4, n in 2); every step leaves its output block, so each
    # stores 2048 B (8 spills, 8 finals), and the 8 steps at k=1 load the spilled sums back.
    problem = GemmProblem("fc", "linear", 128, 64, 1024, "int8", 8, 8.0, act_bits=8)
    plan = plan_layer(problem, load_target("bitfusion"), mapping=Mapping(32, 32, 512, "kmn"))
    assert plan.store_bytes.tolist() == [2048] * 16
    assert plan.load_bytes[:, 2].tolist() == [0] * 8 + [2048] * 8
    fast = simulate_layer(problem, load_target("bitfusion"), mapping=Mapping(32, 32, 512, "kmn"))
    assert fast.dram_bytes == float(np.sum(plan.load_bytes) + np.sum(plan.store_bytes))
