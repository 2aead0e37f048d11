"""The packed-GEMM kernel path rule (`lower.kernel_path`), each path through a
whole graph against `interpret` within its own tolerance (`graph_runtime`), and
the CPU schedule rules for the Relax ops (`cpu_schedule`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tvm
from tvm import relax

from bitsmith.api import load, lower
from bitsmith.backends.tvm.cpu_schedule import Elementwise, Matmul
from bitsmith.backends.tvm.errors import BackendError
from bitsmith.backends.tvm.graph_runtime import PATH_TOLERANCE, GraphRunner, tolerance
from bitsmith.backends.tvm.lower import DENSE_MIN_ROWS, kernel_path
from bitsmith.backends.tvm.runtime import host_target, supports
from bitsmith.ir.dtypes import dtype
from bitsmith.ir.formats.quantize import quantize
from bitsmith.ir.graph import GraphBuilder
from bitsmith.ir.ops import Op
from bitsmith.ir.types import TensorType
from bitsmith.passes.quantize_weights import quantize_weights

VNNI = pytest.mark.skipif(not supports("lut"), reason="this CPU lacks AVX-512 VNNI/VBMI")
WEIGHT = np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32)


@VNNI
@pytest.mark.parametrize("scheme, m, choice, expected", [
    ("int4_sym", 1, "auto", "vnni"),
    ("int4_sym", 128, "auto", "vnni"),
    ("bitmod4", 1, "auto", "vnni"),  # integer-valued tables take the VNNI path through vpermb
    ("nf4", 1, "auto", "blocked"),  # real-valued table: float kernels only
    ("nf4", DENSE_MIN_ROWS, "auto", "dense"),
    ("int4_sym", 1, "float", "blocked"),
    ("int4_sym", DENSE_MIN_ROWS - 1, "float", "blocked"),
    ("int4_sym", DENSE_MIN_ROWS, "float", "dense"),
    ("int2_sym", 1, "lut", "lut"),
    ("int2_sym", 128, "lut-f32", "lut-f32"),
    ("int4_sym", 128, "vnni", "vnni"),
])
def test_the_path_rule(scheme: str, m: int, choice: str, expected: str) -> None:
    assert kernel_path(quantize(WEIGHT, scheme, group_size=32), m, choice) == expected


def test_a_device_without_the_dense_or_integer_paths_gets_blocked() -> None:
    spec = quantize(WEIGHT, "int4_sym", group_size=32)
    assert kernel_path(spec, 128, "auto", paths=("blocked",)) == "blocked"
    with pytest.raises(BackendError, match=r"^the vnni kernel path does not run on this device$"):
        kernel_path(spec, 1, "vnni", paths=("blocked",))
    with pytest.raises(BackendError, match=r"^unknown kernel 'gpu': expected one of auto, float, vnni, lut, lut-f32$"):
        kernel_path(spec, 1, "gpu")


def test_tolerance_is_the_loosest_of_the_paths_used() -> None:
    graph = lower(load("mlp"))
    assert tolerance(graph) == tolerance(graph, ["dense", "blocked"]) == 1e-4
    assert tolerance(graph, ["dense", "vnni"]) == PATH_TOLERANCE["vnni"] < tolerance(graph, ["lut"])


@VNNI
@pytest.mark.parametrize("kernel, paths", [("auto", {"vnni"}), ("float", {"dense"}), ("vnni", {"vnni"}),
                                           ("lut", {"lut"}), ("lut-f32", {"lut-f32"})])
def test_minilm_prefill_on_each_path_matches_interpret(kernel: str, paths: set[str]) -> None:
    loaded = load("minilm")
    graph = quantize_weights(lower(loaded), "int4_sym", group_size=128)[0]
    inputs = {v.name: x.detach().numpy() for v, x in zip(graph.inputs, loaded.example_inputs, strict=True)}
    runner = GraphRunner(graph, kernel=kernel)
    assert {layer.path for layer in runner.lowered.packed} == paths
    check = runner.check(inputs)
    assert check.ok and check.tolerance == tolerance(graph, paths), check.describe()
    if kernel in ("float", "lut-f32"):
        assert check.max_rel_err < 1e-5  # decode-then-dense, and float tables, are exact up to float32 order


@VNNI
@pytest.mark.parametrize("scheme", ["binary", "bipolar"])
@pytest.mark.parametrize("kernel, paths", [("auto", {"vnni"}), ("float", {"blocked"}), ("lut", {"lut"}),
                                           ("lut-f32", {"lut-f32"})])
def test_one_bit_weights_run_on_every_path(scheme: str, kernel: str, paths: set[str]) -> None:
    """1-bit weights ({0, 1}, and BitNet's {-1, +1}): one bit-plane for the LUT
    path, a 1-bit slice for VNNI, a table for the float path."""
    rng = np.random.default_rng(2)
    b = GraphBuilder("two_layers")
    x = b.input("x", TensorType((3, 128), dtype("f32")))
    hidden = b.op(Op.RELU, [b.op(Op.LINEAR, [x, b.constant("w1", rng.standard_normal((64, 128), np.float32))])])
    out = b.op(Op.LINEAR, [hidden, b.constant("w2", rng.standard_normal((32, 64), np.float32)),
                           b.constant("b2", rng.standard_normal(32, np.float32))])
    graph = quantize_weights(b.build([out]), scheme, group_size=32)[0]
    inputs = {"x": rng.standard_normal((3, 128), np.float32)}
    runner = GraphRunner(graph, kernel=kernel)
    assert {layer.path for layer in runner.lowered.packed} == paths
    check = runner.check(inputs)
    assert check.ok, check.describe()


def _function(build) -> tvm.IRModule:
    """main(x [8, 32], w [48, 32]) = build(x, w) as a Relax module."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((8, 32), "float32"))
    w = relax.Var("w", relax.TensorType((48, 32), "float32"))
    with bb.function("main", [x, w]):
        with bb.dataflow():
            out = bb.emit_output(build(x, w))
        bb.emit_func_output(out)
    return bb.get()


def _legalized(build) -> tvm.IRModule:
    """A one-op Relax function legalised and fused, as the CPU pipeline sees it."""
    with host_target():
        return tvm.transform.Sequential([relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
                                         relax.transform.FuseOps(), relax.transform.FuseTIR()])(_function(build))


def _prim_funcs(mod: tvm.IRModule) -> dict[str, tvm.tirx.PrimFunc]:
    return {gv.name_hint: f for gv, f in mod.functions.items() if isinstance(f, tvm.tirx.PrimFunc)}


def test_matmul_and_elementwise_rules_take_a_linear_with_gelu() -> None:
    mod = _legalized(lambda x, w: relax.op.nn.gelu(relax.op.matmul(x, relax.op.permute_dims(w))))
    funcs = _prim_funcs(mod)
    matmul = next(f for name, f in funcs.items() if "matmul" in name)
    transpose = next(f for name, f in funcs.items() if "transpose" in name)
    assert Matmul().apply(matmul, host_target(), False) is not None
    assert Matmul().apply(transpose, host_target(), False) is None
    assert Elementwise().apply(transpose, host_target(), False) is not None
    assert Elementwise().apply(matmul, host_target(), False) is None


def test_the_scheduled_pipeline_computes_what_numpy_does() -> None:
    from bitsmith.backends.tvm.graph_runtime import build_module

    def build(x, w):
        return relax.op.nn.gelu(relax.op.add(relax.op.matmul(x, relax.op.permute_dims(w)), relax.const(0.5)))

    vm = relax.VirtualMachine(build_module(_function(build), host_target()), tvm.cpu())
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((8, 32)).astype(np.float32), rng.standard_normal((48, 32)).astype(np.float32)
    got = vm["main"](tvm.runtime.tensor(a), tvm.runtime.tensor(b)).numpy()
    z = a @ b.T + 0.5
    expected = 0.5 * z * (1 + np.vectorize(math.erf)(z / np.sqrt(2)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
