"""PE timing: cycle counts worked out by hand, the overlap rules, and the ideal
throughput ratios of FACTS §1.4, §3.2 and §4 coming out of the models' timing.

Every expected number below is written out with its arithmetic; none is a value the
simulator printed.
"""

from __future__ import annotations

import math

import pytest

from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.pe import LUTPE, BitSerialPE, DotChunk, PEModel, pe_model
from bitsmith.simulator.pe.overlap import two_stage_schedule
from bitsmith.targets import load_target, target_from_dict


def model(name: str) -> PEModel:
    return pe_model(load_target(name))


# --- BitMoD bit-serial PE (FACTS §1.2, §1.4) -------------------------------------------


def test_bitmod_int6_two_groups_dequant_hidden() -> None:
    # bitmod: dp 4, 2 bits per cycle, uint8 scale shifted one bit per cycle (D = 8).
    # INT6: T = ceil(6/2) = 3 terms. K = 256 in groups of 128: 2 groups.
    # Term phase per group A = (128/4) * 3 = 96 cycles; D = 8 <= 96, so group 0's
    # dequant hides under group 1's terms; group 1's dequant drains: 96 + 96 + 8 = 200.
    timing = model("bitmod").timing(DotChunk(k=256, weight_bits=6, act_bits=16, group_size=128))
    assert (timing.total_cycles, timing.term_cycles, timing.accumulate_cycles) == (200, 192, 192)
    assert (timing.dequant_cycles, timing.stall_cycles, timing.drain_cycles) == (16, 0, 8)
    assert (timing.groups, timing.terms_per_weight) == (2, 3)
    assert timing.busy_cycles() == {"term": 192, "accumulate": 192, "dequant": 16}


def test_bitmod_dequant_longer_than_group_stalls() -> None:
    # INT4: T = 2; groups of 8 at dp 4: A = (8/4) * 2 = 4 cycles < D = 8.
    # K = 32: 4 groups. The multiplier waits for the dequant unit before handing
    # over groups 1..3: total = A + 3 * max(A, D) + D = 4 + 24 + 8 = 36,
    # stalls 3 * (8 - 4) = 12; check: busy 16 + stalls 12 + drain 8 = 36.
    timing = model("bitmod").timing(DotChunk(k=32, weight_bits=4, act_bits=16, group_size=8))
    assert (timing.total_cycles, timing.term_cycles, timing.stall_cycles, timing.dequant_cycles) == (36, 16, 12, 32)


def test_bitmod_partial_last_group_and_fp_formats() -> None:
    # INT6, K = 200, groups of 128: lengths 128 and 72.
    # A = 32*3 = 96 and 18*3 = 54; total = 96 + max(54, 8) + 8 = 158.
    assert model("bitmod").timing(DotChunk(200, 6, 16, 128)).total_cycles == 158
    # bitmod4 (FP4, 4 bits) and bitmod3 (3 bits): T = ceil(4/2) = ceil(3/2) = 2.
    # K = 128, one group: 32 * 2 + 8 = 72.
    for bits in (4, 3):
        assert model("bitmod").timing(DotChunk(128, bits, 16, 128)).total_cycles == 72


def test_bitmod_without_group_scales_has_no_dequant() -> None:
    # Scale applied outside the PE: INT8, K = 10, dp 4: ceil(10/4) * ceil(8/2) = 3 * 4 = 12.
    timing = model("bitmod").timing(DotChunk(10, 8, 16))
    assert (timing.total_cycles, timing.dequant_cycles, timing.drain_cycles) == (12, 0, 0)


def test_bitmod_actions() -> None:
    # The INT6 case above: 200 PE cycles, 192 term steps and accumulates, 2 x 8 dequant steps.
    actions = model("bitmod").actions(DotChunk(256, 6, 16, 128))
    assert actions == {"pe_cycle": 200, "term": 192, "group_accumulate": 192, "dequant_step": 16}


def test_bitmod_pe_latency_is_ceil_half_weight_bits() -> None:
    # FACTS §1.4: pe_latency = ceil(floor(w_bits)/2) cycles per dot-product step.
    pe = model("bitmod")
    for bits in range(1, 9):
        assert pe.timing(DotChunk(4, bits, 16)).total_cycles == math.ceil(bits / 2)


def test_bitmod_group_must_not_split_a_step() -> None:
    with pytest.raises(SimulationError, match=r"pe 'bit_serial' cannot take group size 6: .*multiple of .* 4"):
        model("bitmod").timing(DotChunk(12, 6, 16, group_size=6))


# --- LUT Tensor Core (FACTS §3.1, §3.2) --------------------------------------------------


def test_lut_tensor_core_shared_tables() -> None:
    # lut_tensor_core: dp = K_DIM = 4, g = 4 (one table per step), one plane per cycle.
    # K = 8: 2 steps. INT2: L = 2 lookup cycles per step; the shared builder makes a
    # table in P = 1 cycle, step 2's while step 1 is looked up:
    # total = P + 2 * L = 1 + 4 = 5 (fill 1, no stall).
    timing = model("lut_tensor_core").timing(DotChunk(8, 2, 16))
    assert (timing.total_cycles, timing.fill_cycles, timing.stall_cycles) == (5, 1, 0)
    assert (timing.table_build_cycles, timing.lookup_cycles, timing.combine_cycles) == (2, 4, 4)
    # Per PE: 2 tables built by a builder shared by the 64 rows -> 2/64 builds, 2*8/64
    # entries; 2 tables x 2 planes = 4 reads and accumulates; 2 offset adds.
    assert model("lut_tensor_core").actions(DotChunk(8, 2, 16)) == {
        "pe_cycle": 5, "table_build": 2 / 64, "table_entry_write": 16 / 64, "table_read": 4, "accumulate": 4,
        "offset_add": 2}


def test_lut_private_tables_serialise() -> None:
    # Each PE builds its own table before its lookups: 2 steps * (P 1 + L 2) = 6.
    target = load_target("lut_tensor_core")
    pe = LUTPE(target.pe_array, shared_precompute=False)
    timing = pe.timing(DotChunk(8, 2, 16))
    assert (timing.total_cycles, timing.table_build_cycles, timing.fill_cycles) == (6, 2, 0)
    assert pe.actions(DotChunk(8, 2, 16))["table_build"] == 2


def test_lut_precompute_slower_than_lookups_stalls() -> None:
    # dp 16 with g = 4: 4 tables per step, P = 4 cycles; INT2: L = 2. K = 32: 2 steps.
    # total = P + max(P, L) + L = 4 + 4 + 2 = 10; lookups starve 4 - 2 = 2 cycles.
    wide = target_from_dict({"name": "wide_lut", "extends": "lut_tensor_core", "pe_array": {"dot_product_width": 16}})
    timing = pe_model(wide).timing(DotChunk(32, 2, 16))
    assert (timing.total_cycles, timing.fill_cycles, timing.lookup_cycles, timing.stall_cycles) == (10, 4, 4, 2)


def test_lut_tensor_core_cycles_per_tile_are_weight_bits() -> None:
    # FACTS §3.2: an M2 N64 K4 tile takes W_BIT cycles; throughput 2*64*4/W_BIT MACs per cycle.
    target = load_target("lut_tensor_core")
    pe = pe_model(target)
    rows, cols, dp = target.pe_array.rows, target.pe_array.cols, target.pe_array.dot_product_width
    for bits in (1, 2, 3, 4):
        per_tile = pe.timing(DotChunk(2 * dp, bits, 16)).total_cycles - pe.timing(DotChunk(dp, bits, 16)).total_cycles
        assert per_tile == bits
        assert rows * cols * dp / per_tile == 512 / bits


# --- MAC, Stripes, Loom, Bit Fusion (FACTS §2, §4) ------------------------------------------


def test_mac_one_step_per_cycle() -> None:
    # fp16_mac: dp 1, K = 100 -> 100 cycles, 100 MACs, whatever the widths.
    pe = model("fp16_mac")
    assert pe.timing(DotChunk(100, 16, 16)).total_cycles == 100
    assert pe.timing(DotChunk(100, 4, 16)).total_cycles == 100
    assert pe.actions(DotChunk(100, 16, 16)) == {"pe_cycle": 100, "mac": 100}


def test_stripes_cycles() -> None:
    # stripes: dp 16, 1 activation bit per cycle. K = 64, p_a = 5: (64/16) * 5 = 20;
    # 64 products x 5 bits = 320 serial products.
    pe = model("stripes")
    assert pe.timing(DotChunk(64, 16, 5)).total_cycles == 20
    assert pe.actions(DotChunk(64, 16, 5)) == {"pe_cycle": 20, "serial_product": 320}


def test_loom_cycles_conv_and_fc() -> None:
    # loom: dp 16, 1 bit per cycle. K = 64, p_a = 4, p_w = 3: 4 steps * 4 * 3 = 48.
    # Without weight reuse the full 16-bit activation width is walked: 4 * 16 * 3 = 192.
    pe = model("loom")
    assert pe.timing(DotChunk(64, 3, 4)).total_cycles == 48
    assert pe.timing(DotChunk(64, 3, 4, weight_reuse=False)).total_cycles == 192
    assert pe.actions(DotChunk(64, 3, 4))["serial_product"] == 64 * 4 * 3


def test_bit_fusion_cycles() -> None:
    # bitfusion: dp 1; 2-bit bricks fused to 8. K = 64:
    # 4x4 bits: (8/4)*(8/4) = 4 products per cycle -> 16 cycles; 2x8: 4*1 = 4 -> 16;
    # 2x2: 16 -> 4 cycles; 8x8: 1 -> 64; 3x3: floor(8/3)^2 = 4 -> 16.
    pe = model("bitfusion")
    for (act, weight), cycles in {(4, 4): 16, (2, 8): 16, (2, 2): 4, (8, 8): 64, (3, 3): 16}.items():
        assert pe.timing(DotChunk(64, weight, act)).total_cycles == cycles
    # 2x2: 64 products of 1 x 1 bricks; 8x8: 64 x 4 x 4.
    assert pe.actions(DotChunk(64, 2, 2))["brick_product"] == 64
    assert pe.actions(DotChunk(64, 8, 8))["brick_product"] == 64 * 16


def test_bit_fusion_rejects_wide_operands() -> None:
    with pytest.raises(SimulationError, match=r"pe 'bit_fusion' cannot take 16-bit activations x 8-bit weights"):
        model("bitfusion").timing(DotChunk(8, 8, 16))


# --- ideal ratios, from the models' timing (FACTS §4) -----------------------------------


@pytest.mark.parametrize("p_a", range(1, 17))
def test_stripes_speedup_is_16_over_pa(p_a: int) -> None:
    # Against the same lanes at full 16-bit precision: 16 / p_a.
    pe, k = model("stripes"), 256
    full = pe.timing(DotChunk(k, 16, 16)).total_cycles
    assert full / pe.timing(DotChunk(k, 16, p_a)).total_cycles == pytest.approx(16 / p_a)


@pytest.mark.parametrize(("p_a", "p_w"), [(16, 16), (8, 8), (4, 4), (2, 16), (5, 3), (1, 1), (7, 9)])
def test_loom_speedups(p_a: int, p_w: int) -> None:
    # Convolutions: 256 / (p_a p_w); fully connected: 16 / p_w.
    pe, k = model("loom"), 256
    full = pe.timing(DotChunk(k, 16, 16)).total_cycles
    assert full / pe.timing(DotChunk(k, p_w, p_a)).total_cycles == pytest.approx(256 / (p_a * p_w))
    fc_full = pe.timing(DotChunk(k, 16, 16, weight_reuse=False)).total_cycles
    fc = pe.timing(DotChunk(k, p_w, p_a, weight_reuse=False)).total_cycles
    assert fc_full / fc == pytest.approx(16 / p_w)


@pytest.mark.parametrize("p_a", (2, 4, 8))
@pytest.mark.parametrize("p_w", (2, 4, 8))
def test_bit_fusion_products_per_cycle(p_a: int, p_w: int) -> None:
    # perf = floor(8/max(p_a,2)) * floor(8/max(p_w,2)): 16 at 2x2, 4 at 4x4, 1 at 8x8.
    k = 1024
    perf = (8 // max(p_a, 2)) * (8 // max(p_w, 2))
    assert k / model("bitfusion").timing(DotChunk(k, p_w, p_a)).total_cycles == perf


@pytest.mark.parametrize(("name", "weight_bits", "act_bits"), [
    ("bitmod", 6, 16), ("bitmod", 3, 16), ("lut_tensor_core", 2, 16), ("fp16_mac", 16, 16), ("ant", 4, 16),
    ("stripes", 16, 5), ("loom", 4, 6), ("bitfusion", 4, 2), ("int8_systolic", 8, 8)])
def test_pe_rate_matches_the_target_peak_formula(name: str, weight_bits: int, act_bits: int) -> None:
    # Products per cycle of one PE in steady state (extra products over extra cycles,
    # so a one-off table fill cancels), times the PEs, equal the target's
    # macs_per_cycle (its closed form of the same FACTS formulas).
    target = load_target(name)
    pe = pe_model(target)
    short, long = (pe.timing(DotChunk(k, weight_bits, act_bits)).total_cycles for k in (2048, 4096))
    per_pe = (4096 - 2048) / (long - short)
    assert per_pe * target.pe_array.pe_count == pytest.approx(target.pe_array.macs_per_cycle(weight_bits, act_bits))


# --- the overlap rule itself ---------------------------------------------------------------


def test_two_stage_schedule_matches_stepping() -> None:
    # Step the hand-over recurrence by hand for uneven stages and compare.
    first, second = [5, 1, 4, 2], [3, 6, 1, 2]
    handover = first[0]
    for i in range(1, 4):
        handover += max(first[i], second[i - 1])
    schedule = two_stage_schedule(first, second)
    # 5 + max(1, 3) + max(4, 6) + max(2, 1) + 2
    assert schedule.total_cycles == handover + second[-1] == 5 + 3 + 6 + 2 + 2
    # producer waits second[i-1] - first[i] where positive: (3-1) + (6-4) = 4
    assert schedule.first_stall_cycles == 4
    # consumer waits first[i] - second[i-1] where positive: (2-1) = 1
    assert schedule.second_starve_cycles == 1
    assert schedule.total_cycles == schedule.first_busy_cycles + schedule.first_stall_cycles + schedule.tail_cycles
    assert schedule.total_cycles == schedule.head_cycles + schedule.second_busy_cycles + schedule.second_starve_cycles


def test_kind_mismatch_is_an_error() -> None:
    with pytest.raises(SimulationError, match="BitSerialPE models pe 'bit_serial', the array has pe 'mac'"):
        BitSerialPE(load_target("fp16_mac").pe_array)
