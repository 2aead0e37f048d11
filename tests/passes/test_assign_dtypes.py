"""Per-group datatype assignment: the choice against an independent numpy brute
force, importance steering it, the never-worse-than-uniform property, BitMoD as
the special case, MiniLM's real weights, round trips, the simulator accepting
(and refusing) assigned mixtures, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bitsmith.accuracy import minilm_reference, total_sqnr_db
from bitsmith.api import lower
from bitsmith.ir import Graph, GraphBuilder, Op
from bitsmith.ir.dtypes import F32
from bitsmith.ir.formats import MIXTURES, get_format
from bitsmith.ir.parse import parse_graph
from bitsmith.ir.serialize import load, save, sidecar_path
from bitsmith.ir.types import TensorType
from bitsmith.passes.assign_dtypes import assign_dtypes, weighted_error
from bitsmith.passes.base import PassError
from bitsmith.passes.calibrate import Calibration
from bitsmith.passes.pipeline import Pipeline
from bitsmith.passes.quantize_weights import quantize_weights
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.simulate import simulate
from bitsmith.simulator.workload import workload
from bitsmith.targets import load_target

FOUR_BIT = ("int4_sym", "fp4_e2m1", "nf4")


def _linear(w: np.ndarray) -> Graph:
    """x -> linear(W): one GEMM weight `[N, K]`, groups along K."""
    b = GraphBuilder("one_linear")
    x = b.input("x", TensorType((2, w.shape[1]), F32))
    y = b.op(Op.LINEAR, [x, b.constant("fc.weight", w.astype(np.float32))], name="fc")
    return b.build([y])


def _brute_force(w: np.ndarray, candidates: tuple[str, ...], group: int,
                 importance: np.ndarray | None = None) -> np.ndarray:
    """Per (row, group) the index of the candidate with the least (weighted)
    squared error: absmax scale (stored as float32), nearest grid value."""
    n, k = w.shape
    x = w.astype(np.float64).reshape(n, k // group, group)
    imp = np.ones_like(x) if importance is None else np.broadcast_to(importance, w.shape).reshape(x.shape)
    errors = []
    for name in candidates:
        grid = get_format(name).grid
        scale = (np.abs(x).max(axis=2, keepdims=True) / np.abs(grid).max()).astype(np.float32).astype(np.float64)
        scale = np.where(scale > 0, scale, 1.0)
        nearest = grid[np.argmin(np.abs(x[..., None] / scale[..., None] - grid), axis=-1)]
        errors.append(np.sum(imp * (nearest * scale - x) ** 2, axis=2))
    return np.argmin(np.stack(errors), axis=0)  # first of equals, as the quantiser


def _mixed_groups(rows: int, groups: int, group: int, seed: int = 0) -> np.ndarray:
    """Groups drawn from heavy-tailed, uniform and Gaussian laws in turn, so
    different groups prefer different formats."""
    rng = np.random.default_rng(seed)
    laws = (lambda: rng.standard_t(2, group), lambda: rng.uniform(-1, 1, group), lambda: rng.standard_normal(group))
    return np.array([[laws[(r + g) % 3]() for g in range(groups)] for r in range(rows)]).reshape(rows, -1)


def test_per_group_choice_equals_a_numpy_brute_force() -> None:
    w = _mixed_groups(12, 6, 32)
    graph = _linear(w)
    assigned, (report,) = assign_dtypes(graph, FOUR_BIT, group_size=32)
    spec = assigned.constant("fc.weight").quant
    assert spec.scheme == "int4_sym+fp4_e2m1+nf4" and spec.formats == FOUR_BIT
    np.testing.assert_array_equal(spec.format_ids, _brute_force(w, FOUR_BIT, 32))
    assert set(report.format_counts) == set(FOUR_BIT)  # every format wins somewhere
    # the per-group selector (3 formats: 2 bits) is charged beside the FP16 scale
    assert report.bits_per_weight == 4 + (16 + 2) / 32


def test_importance_steers_the_choice_to_the_channels_that_matter() -> None:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((1, 32))
    pair = ("int4_sym", "fp4_e2m1")
    # per-element squared errors of each format alone, under its own absmax scale
    per_element = [np.square(quantize_weights(_linear(w), name, group_size=32)[0].constant("fc.weight").quant
                             .dequantize() - w)[0] for name in pair]
    int_better = per_element[0] < per_element[1]
    assert int_better.any() and (~int_better).any()
    for mask, winner in ((int_better, 0), (~int_better, 1)):
        importance = np.where(mask, 1.0, 1e-6)  # E[x²] of each input channel
        calibration = Calibration({"fc.weight": importance}, {})
        assigned, _ = assign_dtypes(_linear(w), pair, group_size=32, calibration=calibration)
        spec = assigned.constant("fc.weight").quant
        assert spec.format_ids[0, 0] == winner == _brute_force(w, pair, 32, importance)[0, 0]
        # a Fisher diagonal (weight-shaped), when calibrated for one, takes precedence over E[x²]
        fisher = Calibration({"fc.weight": 1e-6 + 1 - importance}, {}, fisher_diagonal={"fc.weight": importance[None]})
        assigned, _ = assign_dtypes(_linear(w), pair, group_size=32, calibration=fisher)
        assert assigned.constant("fc.weight").quant.format_ids[0, 0] == winner


def test_calibrated_pipeline_weighs_errors_by_the_input_second_moment() -> None:
    w = _mixed_groups(8, 4, 32, seed=5)
    rng = np.random.default_rng(6)
    moment = rng.uniform(0.01, 4.0, w.shape[1])
    # inputs ±sqrt(moment): E[x_k²] is exactly moment_k
    x = (np.sqrt(moment) * rng.choice([-1.0, 1.0], (2, w.shape[1]))).astype(np.float32)
    pipeline = Pipeline.of(["calibrate", "assign_dtypes"],
                           {"assign_dtypes.candidates": list(FOUR_BIT), "assign_dtypes.group_size": 32})
    result = pipeline.run(_linear(w), inputs=[x])
    spec = result.graph.constant("fc.weight").quant
    measured = np.mean(np.square(x.astype(np.float64)), axis=0)  # moment, up to float32 rounding of x
    np.testing.assert_allclose(measured, moment, rtol=1e-6)
    np.testing.assert_array_equal(spec.format_ids, _brute_force(w, FOUR_BIT, 32, measured))


@pytest.mark.parametrize("calibrated", [False, True])
def test_assigned_error_is_at_most_every_uniform_format(calibrated: bool) -> None:
    graph = lower("mlp")
    rng = np.random.default_rng(1)
    weights = [c for c in graph.constants if c.name.endswith("weight")]
    calibration = Calibration({c.name: rng.uniform(0, 3, c.type.shape[1]) for c in weights}, {}) if calibrated else None
    candidates = FOUR_BIT + MIXTURES["bitmod4"]

    def total(g: Graph) -> float:
        return sum(weighted_error(g.constant(c.name).quant, c.data.astype(np.float64),
                                  None if calibration is None else calibration.input_second_moment[c.name])
                   for c in weights)

    mixed, _ = assign_dtypes(graph, candidates, group_size=32, calibration=calibration)
    per_weight, _ = assign_dtypes(graph, candidates, group_size=32, per_group=False, calibration=calibration)
    uniform = {name: total(quantize_weights(graph, name, group_size=32)[0]) for name in candidates}
    assert total(mixed) <= min(uniform.values()) * (1 + 1e-12)
    assert total(mixed) < total(per_weight) <= min(uniform.values()) * (1 + 1e-12)
    for const in weights:  # per weight: one format, the least-error one for that weight
        spec = per_weight.constant(const.name).quant
        assert len(spec.formats) == 1 and spec.formats[0] in candidates


def test_bitmod_is_the_special_case_the_target_picks_by_default() -> None:
    graph = lower("mlp")
    target = load_target("bitmod_lossy")  # default weights bitmod3: 3 bits, bitmod3's members
    result = Pipeline.of(["assign_dtypes"], {"assign_dtypes.group_size": 32}).run(graph, target)
    expected, _ = quantize_weights(graph, "bitmod3", group_size=32)
    for const in expected.constants:
        assert result.graph.constant(const.name).quant == const.quant  # named `bitmod3`, selector uncharged
    four = Pipeline.of(["assign_dtypes"], {"assign_dtypes.bits": 4, "assign_dtypes.group_size": 32}).run(graph, target)
    assert {c.quant.scheme for c in four.graph.constants if c.quant is not None} == {"bitmod4"}


def test_which_targets_mix_per_group() -> None:
    mixing = {name: load_target(name).formats.mixes_per_group
              for name in ("bitmod", "ant", "lut_tensor_core", "loom", "bitfusion", "int8_systolic")}
    assert mixing == {"bitmod": True, "ant": True, "lut_tensor_core": False, "loom": False, "bitfusion": False,
                      "int8_systolic": False}
    graph = lower("mlp")
    lut = Pipeline.of(["assign_dtypes"], {"assign_dtypes.bits": 4}).run(graph, load_target("lut_tensor_core"))
    assert {c.quant.scheme for c in lut.graph.constants if c.quant is not None} == {"int4"}  # its only 4-bit format
    ant = Pipeline.of(["assign_dtypes"]).run(graph, load_target("ant"))
    assert {c.quant.scheme for c in ant.graph.constants if c.quant is not None} == {"ant4"}  # int4_sym | flint4


def test_minilm_assigned_beats_every_single_format() -> None:
    graph, _, _ = minilm_reference()
    candidates = FOUR_BIT + MIXTURES["bitmod4"]
    _, assigned = assign_dtypes(graph, candidates, group_size=128)
    sqnr = total_sqnr_db(assigned, graph)
    for scheme in FOUR_BIT + ("bitmod4",):
        single = total_sqnr_db(quantize_weights(graph, scheme, group_size=128)[1], graph)
        assert sqnr >= single, scheme
    assert all(r.bits_per_weight == 4 + (16 + 3) / 128 for r in assigned)  # 7 formats: a 3-bit selector


def test_assigned_graph_round_trips(tmp_path: Path) -> None:
    graph, _ = assign_dtypes(_linear(_mixed_groups(4, 4, 32)), FOUR_BIT, group_size=32)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    save(graph, first)
    loaded = load(first)
    save(loaded, second)
    assert loaded == graph and str(loaded) == str(graph)
    assert first.read_bytes() == second.read_bytes()
    assert sidecar_path(first).read_bytes() == sidecar_path(second).read_bytes()
    assert "quant(int4_sym+fp4_e2m1+nf4 group=32 axis=1)" in str(graph)
    parsed = parse_graph(str(graph)).constant("fc.weight").quant  # the printed form: a shape-only spec
    assert parsed == graph.constant("fc.weight").quant.without_data()


def test_bitmod_simulates_mixtures_of_its_members_and_refuses_others() -> None:
    graph, target = lower("mlp"), load_target("bitmod")
    members = ("bitmod_fp4_er_pos", "bitmod_fp4_ea_neg")  # a subset of bitmod4: a joined name it does not list
    mixed, _ = assign_dtypes(graph, members, group_size=32)
    gemm = next(p for p in workload(mixed, target) if p.name == "2")
    assert (gemm.weight_format, gemm.weight_bits, gemm.weight_bits_per_element) == (
        "bitmod_fp4_er_pos+bitmod_fp4_ea_neg", 4, 4 + (16 + 1) / 32)
    assert simulate(mixed, target).cycles > 0
    single, _ = assign_dtypes(graph, members, group_size=32, per_group=False)
    assert simulate(single, target).cycles > 0  # one member alone is a format its decoder has
    foreign, _ = assign_dtypes(graph, ("bitmod_fp4_er_pos", "nf4"), group_size=32)
    with pytest.raises(SimulationError) as err:
        workload(foreign, target)
    assert str(err.value) == ("layer %0 (linear): weight format nf4 (a member of %0.weight's bitmod_fp4_er_pos+nf4) "
                              "is not supported by target bitmod (weights: int6, int8, bitmod4, bitmod3)")


def test_errors_are_one_line() -> None:
    graph, bitmod = lower("mlp"), load_target("bitmod")

    def run(options: dict, target=bitmod) -> None:
        Pipeline.of(["assign_dtypes"], options).run(graph, target)

    with pytest.raises(PassError, match=r"^pass assign_dtypes: target bitmod has no 5-bit weight format to assign; "
                                        r"it offers 3, 4, 6, 8 bits \(weights: int6, int8, bitmod4, bitmod3\)$"):
        run({"assign_dtypes.bits": 5})
    with pytest.raises(PassError, match=r"^pass assign_dtypes: unknown candidate format 'fp4_e9m9'"):
        run({"assign_dtypes.candidates": ["int4_sym", "fp4_e9m9"]})
    with pytest.raises(PassError, match=r"^pass assign_dtypes: candidates must share one element width, "
                                        r"got bits int4_sym 4, int8_sym 8$"):
        run({"assign_dtypes.candidates": ["int4_sym", "int8_sym"]})
    with pytest.raises(PassError, match=r"^pass assign_dtypes: candidates must all be 3-bit \(assign_dtypes.bits\), "
                                        r"got bits nf4 4$"):
        run({"assign_dtypes.candidates": ["nf4"], "assign_dtypes.bits": 3})
    with pytest.raises(PassError, match=r"^pass assign_dtypes: candidate 'mxfp4' cannot be chosen per group"):
        run({"assign_dtypes.candidates": ["mxfp4"]})
    with pytest.raises(PassError, match=r"^pass assign_dtypes: weight %0\.weight \(of %0\): group size 48 does not "
                                        r"divide axis length 64"):
        run({"assign_dtypes.candidates": list(FOUR_BIT), "assign_dtypes.group_size": 48})
    with pytest.raises(PassError, match="no accelerator target"):
        run({}, target=None)
