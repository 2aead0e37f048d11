"""Engine cycle counts worked out by hand from the timing rules (array.py, plan.py,
engines/fast.py), one small GEMM per PE kind on a shipped target, including a
DRAM-bound GEMV and a compute-bound GEMM. Each expected number is the arithmetic in
the comment beside it, not a value the simulator printed; both engines must give it.

Notation: B = DRAM bytes per cycle; L/C/S = load/compute/store; a fold of ur x uc
PEs running a chunk of T cycles ends at (ur-1) + (uc-1) + T (output-stationary),
then drains ur cycles while the next fold runs. A weight- or input-stationary fold
first shifts its held operand in (ur cycles) and ends at ur + (ur-1)*T + (uc-1) +
streamed*T, streamed = tokens (M) or weight columns (N), with no drain.
"""

from __future__ import annotations

import pytest

from bitsmith.simulator.engines import simulate_layer
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.mapping import Mapping
from bitsmith.simulator.problem import GemmProblem, LayerResult, VectorProblem
from bitsmith.targets import Accelerator, load_target


def both(problem: GemmProblem | VectorProblem, target: str | Accelerator, phase: str = "prefill",
         mapping: Mapping | None = None) -> LayerResult:
    """The fast engine's result, after checking the trace engine gives the same."""
    accel = load_target(target) if isinstance(target, str) else target
    fast = simulate_layer(problem, accel, phase=phase, mapping=mapping)
    assert simulate_layer(problem, accel, phase=phase, engine="trace", mapping=mapping) == fast
    return fast


def test_fp16_mac_gemv_is_dram_bound() -> None:
    # fp16_mac decode array 64 rows (N) x 12 cols (M), dp 1; B = 32; weight SRAM 512 KiB
    # (half 256 KiB); the input SRAM (512 KiB) is shared by inputs and outputs: 256 KiB each.
    # M=1, N=256, K=2048 f16: weights 1 MiB > 256 KiB, so N halves 256 -> 128 -> 64:
    # a 2048 x 64 block is 262144 B = half. Inputs (4 KiB) and outputs (512 B) are resident.
    # 4 steps (N blocks). L0 = (262144 + 4096) / 32 = 8320, L1..L3 = 262144 / 32 = 8192.
    # Each step: one fold ur=64, uc=1, T=2048 -> 63 + 0 + 2048 = 2111 (weight port 1024 bit:
    # 64*2048*16/1024 = 2048 <= 2111; input port 192 bit: ceil(2048*16/192) = 171); drain 64:
    # C = 2175. Each step stores its 64 outputs: 128 B -> S = 4.
    # Channel order L0 L1 S0 L2 S1 L3 S2 S3; load i waits for compute i-2:
    #   L0 [0, 8320)   C0 [8320, 10495)   L1 [8320, 16512)   S0 [16512, 16516)
    #   L2 [16516, 24708)   C1 [16512, 18687)   S1 [24708, 24712)
    #   L3 [24712, 32904)   C2 [24708, 26883)   S2 [32904, 32908)
    #   C3 [32904, 35079)   S3 [35079, 35083)  -> 35083 cycles.
    # DRAM busy 8320 + 3*8192 + 4*4 = 32912; the array waits
    # 8320 + (16512-10495) + (24708-18687) + (32904-26883) = 26379.
    result = both(GemmProblem("fc", "linear", 1, 256, 2048, "f16", 16, 16.0), "fp16_mac", "decode")
    assert result.cycles == 35083
    assert result.mapping == "tile M12 N64 K2048 order nmk"
    assert result.busy_cycles["dram"] == 32912
    assert result.stall_cycles["dram"] == 26379
    assert result.busy_cycles["array"] == 4 * 2111
    assert result.busy_cycles["drain"] == 4 * 64
    assert result.busy_cycles["port:weight"] == 4 * 2048
    assert result.busy_cycles["port:input"] == 4 * 171
    assert result.dram_bytes == 4 * 262144 + 4096 + 4 * 128
    assert result.busy_cycles["dram"] > 0.9 * result.cycles  # DRAM-bound


def test_stripes_k_blocks_compute_bound() -> None:
    # stripes: 16 rows (N) x 8 cols (M), dp 16, 1 activation bit per cycle; fp16_mac memory, B = 32;
    # no port widths (unlimited). i16 weights, int8 activations, M=16, N=32, K=512, mapping
    # M16 N32 K128 "nmk": 4 steps along K. Load per step: 128*32*2 + 16*128*1 = 10240 B -> 320.
    # Chunk T = ceil(128/16) * 8 = 64; folds 2 (N) x 2 (M) of 16 x 8 PEs: 15 + 7 + 64 = 86 each,
    # drain 16 hidden under the next fold: C = 4*86 + 16 = 360. Partial sums stay in the output
    # buffer; the 16x32 f16 outputs (1024 B -> 32) are stored after the last K block.
    #   L0 [0, 320)  C0 [320, 680)  L1 [320, 640)  L2 [680, 1000) (waits for C0)
    #   C1 [680, 1040)  L3 [1040, 1360)  C2 [1040, 1400)  C3 [1400, 1760)  S3 [1760, 1792)
    # -> 1792 cycles: only the first load shows (320 stall); 4 * 360 = 1440 of compute.
    problem = GemmProblem("conv", "linear", 16, 32, 512, "i16", 16, 16.0, act_bits=8)
    result = both(problem, "stripes", mapping=Mapping(16, 32, 128, "nmk"))
    assert result.cycles == 1792
    assert result.stall_cycles["dram"] == 320
    assert result.busy_cycles["dram"] == 4 * 320 + 32
    assert result.busy_cycles["array"] == 16 * 86
    assert result.busy_cycles["serial"] == 16 * 64  # PE (0, 0): 64 cycles in each of 16 folds
    assert result.actions["pe_cycle"] == 16 * (16 * 8) * 64  # every PE busy T in every fold


def test_bitmod_int6_grouped_prefill() -> None:
    # bitmod prefill 32 x 32, dp 4, 2 weight bits per cycle, 8-cycle dequant per group of 128.
    # M=64, N=64, K=256 int6 (6.0625 bits stored): one step. Load: ceil(256*64*6.0625/8) =
    # 12416 B + 64*256*2 = 32768 B -> 45184 / 32 = 1412. Chunk K=256: two groups, 96 term
    # cycles each, dequant 8 hidden, last drains: T = 96 + 96 + 8 = 200. Folds 2 x 2 of 32 x 32:
    # 31 + 31 + 200 = 262 (prefill ports, FACTS §1.3 on the 32 x 32 array: weight
    # ceil(32*256*6.0625/512) = 97, input 32*256*16/1024 = 128); drain 32: C = 4*262 + 32 = 1080.
    # Store 64*64*2 = 8192 B -> 256.
    # -> 1412 + 1080 + 256 = 2748.
    problem = GemmProblem("q", "linear", 64, 64, 256, "int6", 6, 6.0625, group_size=128)
    result = both(problem, "bitmod")
    assert result.cycles == 2748
    assert (result.busy_cycles["term"], result.busy_cycles["dequant"]) == (4 * 192, 4 * 16)
    assert result.busy_cycles["port:weight"] == 4 * 97
    assert result.busy_cycles["port:input"] == 4 * 128
    assert result.actions["term"] == 4 * 32 * 32 * 192


def test_lut_tensor_core_int2() -> None:
    # lut_tensor_core: 64 rows (N) x 2 cols (M), dp 4 = one table of g=4 per step, shared
    # builder (1 cycle per table), lookups 1 plane per cycle. M=2, N=64, K=64, int2:
    # 16 steps: T = 1 + 16 * max(1, 2) = 33. One fold: 63 + 1 + 33 = 97, drain 64 -> C = 161.
    # Load 64*64*2/8 + 2*64*2 = 1280 B -> 40; store 2*64*2 = 256 B -> 8. -> 40 + 161 + 8 = 209.
    result = both(GemmProblem("w", "linear", 2, 64, 64, "int2", 2, 2.0), "lut_tensor_core")
    assert result.cycles == 209
    assert (result.busy_cycles["table_build"], result.busy_cycles["lookup"]) == (16, 32)


def test_lut_tensor_core_unshared_builder() -> None:
    # The int2 case above with each PE building its own tables (shared_builder: false): a
    # step builds (1) then looks up (2), T = 16 * (1 + 2) = 48. One fold: 63 + 1 + 48 = 112,
    # drain 64 -> C = 176; load 40, store 8 -> 224. Every one of the 128 PEs builds its 16
    # tables (shared: 16 * 128 / 64 rows = 32 builds); nothing waits on a builder.
    unshared = load_target("lut_tensor_core").override({"pe_array.lut.shared_builder": False})
    result = both(GemmProblem("w", "linear", 2, 64, 64, "int2", 2, 2.0), unshared)
    assert result.cycles == 224
    assert (result.busy_cycles["table_build"], result.busy_cycles["lookup"]) == (16, 32)
    assert result.actions["table_build"] == 16 * 128
    assert "table_build" not in result.stall_cycles


def test_loom_int4_by_int4() -> None:
    # loom: 64 x 32, dp 16, 1 bit per cycle on both operands. M=8, N=64, K=32, int4 x int4:
    # T = ceil(32/16) * 4 * 4 = 32. One fold 64 x 8: 63 + 7 + 32 = 102, drain 64 -> 166.
    # Load 32*64/2 + 8*32/2 = 1152 B -> 36; store 8*64*2 = 1024 B -> 32. -> 36 + 166 + 32 = 234.
    result = both(GemmProblem("c", "conv2d", 8, 64, 32, "int4", 4, 4.0, act_bits=4), "loom")
    assert result.cycles == 234


def test_bitfusion_weight_stationary() -> None:
    # bitfusion: weight-stationary 16 rows (K) x 32 cols (N), dp 1; 4-bit x 4-bit fuses 4
    # products per unit per cycle, so a PE holds kw = 4 weights and a fold covers K = 64.
    # B = 192 bit = 24 B per cycle. M=3, N=32, K=64: one fold, ur = 16, uc = 32, one token
    # chunk T = ceil(4 / 4) = 1: weights in (16) + (16-1)*1 + (32-1) + 3 tokens * 1 = 65.
    # Load 64*32/2 + 3*64/2 = 1120 B -> ceil(46.67) = 47; store 3*32*2 = 192 B -> 8. -> 120.
    problem = GemmProblem("f", "linear", 3, 32, 64, "int4", 4, 4.0, act_bits=4)
    result = both(problem, "bitfusion")
    assert result.cycles == 120
    assert result.busy_cycles["weight_load"] == 16
    assert result.busy_cycles["array"] == 65 - 16


def test_int8_systolic_small() -> None:
    # int8_systolic (TPU-like): 256 x 256 weight-stationary, 34 GB/s at 700 MHz = 48.57 B/cycle.
    # M=4, N=8, K=16: one fold, ur = 16, uc = 8: 16 + 15 + 7 + 4 = 42.
    # Load 16*8 + 4*16 = 192 B -> ceil(3.95) = 4; store 4*8*2 = 64 B -> ceil(1.32) = 2. -> 48.
    problem = GemmProblem("t", "linear", 4, 8, 16, "int8", 8, 8.0, act_bits=8)
    assert both(problem, "int8_systolic").cycles == 48


def test_int8_systolic_input_stationary_folds_along_tokens() -> None:
    # int8_systolic with input_stationary: rows along K (256), columns along tokens M (256);
    # fold tile M 256, N 1, K 256. B = 48.57 B/cycle as above. M=300, N=8, K=16 int8: the
    # default tile is M512 N8 K256, one step. Folds: M in pieces [256, 44], K one piece of 16:
    #   fold 0: ur = 16, uc = 256: 16 activations in + 15 + 255 + 8 weight columns * T 1 = 294;
    #   fold 1: ur = 16, uc = 44: 16 + 15 + 43 + 8 = 82; no drain, so C = 294 + 82 = 376.
    # Load 16*8 + 300*16 = 4928 B -> ceil(101.46) = 102; store 300*8*2 = 4800 B -> ceil(98.82) = 99.
    # -> 102 + 376 + 99 = 577 (weight-stationary streams the 300 tokens through one fold:
    # 16 + 15 + 7 + 300 = 338 -> 539).
    problem = GemmProblem("t", "linear", 300, 8, 16, "int8", 8, 8.0, act_bits=8)
    tpu = load_target("int8_systolic")
    result = both(problem, tpu.override({"pe_array.dataflow": "input_stationary"}))
    assert result.cycles == 577
    assert result.mapping == "tile M512 N8 K256 order nmk"
    assert result.busy_cycles["input_load"] == 2 * 16
    assert result.busy_cycles["array"] == (294 - 16) + (82 - 16)
    assert both(problem, tpu).cycles == 539


def test_input_stationary_swaps_the_port_streams() -> None:
    # fp16_mac prefill 32 x 24 input-stationary: rows K, columns M; prefill ports (FACTS §1.3 on
    # the 32 x 24 array) weight 512 bit, input 384 bit. M=24, N=32, K=64 f16 (the output-stationary
    # case below): one step, two K folds of 32, ur = 32, uc = 24: PEs done 32 + 31 + 23 + 32 weight
    # columns = 118. Ports per fold: inputs held, 32*24*16 / 384 = 32 cycles; weights streamed,
    # 32*32*16 / 512 = 32: no stall. C = 2 * 118 = 236. Load 224, store 48 -> 508.
    fp16 = load_target("fp16_mac").override({"pe_array.dataflow": "input_stationary"})
    result = both(GemmProblem("p", "linear", 24, 32, 64, "f16", 16, 16.0), fp16)
    assert result.cycles == 508
    assert (result.busy_cycles["port:input"], result.busy_cycles["port:weight"]) == (2 * 32, 2 * 32)
    assert result.stall_cycles["sram_port"] == 0


def test_a_narrow_input_port_stalls_the_array() -> None:
    # fp16_mac prefill 32 x 24, M=24, N=32, K=64 f16: one fold 32 x 24: PEs done 31 + 23 + 64 = 118,
    # drain 32. Load 32*64*2 + 24*64*2 = 7168 B -> 224; store 24*32*2 = 1536 B -> 48.
    # Shipped prefill input port 384 bit (1 * 16 * 24, FACTS §1.3): 24*64*16/384 = 64 cycles, no
    # stall: C = 150 -> 422. Without the per-phase width the prefill array reads through the decode
    # array's 192-bit port: 128 cycles, a 10-cycle port stall: C = 160 -> 432.
    problem = GemmProblem("p", "linear", 24, 32, 64, "f16", 16, 16.0)
    shipped = both(problem, "fp16_mac")
    assert (shipped.cycles, shipped.stall_cycles["sram_port"]) == (422, 0)
    narrow = both(problem, load_target("fp16_mac").override({"buffers.input.phases": None}))
    assert (narrow.cycles, narrow.stall_cycles["sram_port"]) == (432, 10)


def test_dequant_stall_counted() -> None:
    # bitmod, INT4 in groups of 8 (dp 4): 4 term cycles per group < 8 dequant cycles.
    # K = 32: T = 4 + 3 * 8 + 8 = 36 with 3 * 4 = 12 multiplier stall cycles (PE test), per fold.
    # decode 64 x 16: M=1, N=64: one fold 63 + 0 + 36 = 99, drain 64 -> 163.
    # Stored 4 + 8/8 = 5 bits per weight. Load 32*64*5/8 = 1280 + 64 = 1344 B -> 42; store
    # 128 B -> 4. -> 42 + 163 + 4 = 209.
    problem = GemmProblem("g", "linear", 1, 64, 32, "int4", 4, 5.0, group_size=8)
    result = both(problem, "bitmod", "decode")
    assert result.cycles == 209
    assert result.stall_cycles["dequant"] == 12


def test_batch_runs_gemms_one_after_another() -> None:
    # Two heads of the lut_tensor_core GEMM above: each its own operands. Steps:
    # L0 [0, 40) C0 [40, 201) L1 [40, 80) S0 [201, 209) C1 [201, 362) S1 [362, 370) -> 370.
    problem = GemmProblem("qk", "matmul", 2, 64, 64, "int2", 2, 2.0, batch=2)
    assert both(problem, "lut_tensor_core").cycles == 370


def test_vector_problem_overlaps_compute_and_dram() -> None:
    # fp16_mac vector unit: 16 ops per cycle; B = 32.
    # 4096 elements x 4 ops = 16384 ops -> 1024 cycles; 8192 + 8192 B -> 512 cycles: 1024.
    norm = VectorProblem("norm", "rms_norm", 4096, 4, 8192.0, 8192.0)
    result = both(norm, "fp16_mac")
    assert (result.cycles, result.busy_cycles["dram"], result.stall_cycles["dram"]) == (1024, 512, 0)
    # 0 ops (data movement): DRAM only, 512 cycles, all a wait for data.
    move = both(VectorProblem("cat", "concat", 4096, 0, 8192.0, 8192.0), "fp16_mac")
    assert (move.cycles, move.stall_cycles["dram"]) == (512, 512)
    # bitfusion has no vector unit: data movement still runs (DRAM only), real ops do not.
    assert both(VectorProblem("cat", "concat", 4096, 0, 8192.0, 8192.0), "bitfusion").cycles > 0
    with pytest.raises(SimulationError, match="layer norm: target bitfusion has no vector unit to run rms_norm"):
        simulate_layer(norm, load_target("bitfusion"))


@pytest.mark.parametrize("engine", ["fast", "trace"])
def test_utilisation_and_macs(engine: str) -> None:
    # Stripes case: 16*32*512 MACs in 1792 cycles; peak at 8-bit activations is
    # 2048 lanes / 8 passes = 256 MACs per cycle.
    problem = GemmProblem("conv", "linear", 16, 32, 512, "i16", 16, 16.0, act_bits=8)
    result = simulate_layer(problem, load_target("stripes"), engine=engine, mapping=Mapping(16, 32, 128, "nmk"))
    assert result.macs == 16 * 32 * 512
    assert result.utilisation == pytest.approx(16 * 32 * 512 / (256 * 1792))


@pytest.mark.parametrize(("ops", "in_bytes", "hidden", "expected"), [
    # int8_systolic vector unit: 256 ops per cycle; B = 48.571 B/cycle. 65536 elements.
    (1, 0.0, 100, (156, 100, 0)),  # relu: C = 256, no bytes: 256 - 100 exposed
    (1, 0.0, 1000, (0, 256, 0)),  # all of it under the GEMM
    (1, 65536.0, 1000, (350, 1000, 350)),  # residual add: D = ceil(65536 / 48.571) = 1350; waits 1350 - 1000
    (5, 65536.0, 0, (1350, 0, 70)),  # nothing left to hide behind: C = 1280, D = 1350
])
def test_an_epilogue_op_hides_behind_its_gemm(ops: int, in_bytes: float, hidden: int,
                                              expected: tuple[int, int, int]) -> None:
    # exposed max(0, max(C, D) - H), hidden min(max(C, D), H), stall max(0, D - max(C, H)) (engines/vector.py)
    problem = VectorProblem("act", "gelu", 65536, ops, in_bytes, 0.0, fused_into="fc", hidden_cycles=hidden)
    result = both(problem, "int8_systolic")
    assert (result.cycles, result.hidden_cycles, result.stall_cycles["dram"]) == expected
    assert result.busy_cycles["vector"] == -(-65536 * ops // 256)
