"""Whole graphs through TVM against `ir.interpret`: the zoo models at every weight
width the backend claims (W8, W4 as INT and BitMoD mixture, W2, ternary), the
ops the zoo does not use in those (float conv, pooling, activation quantisers),
and the one-line refusals; quantised convs: test_tvm_conv.py.

Tolerances are `graph_runtime`'s table: 1e-4 of the largest output for
weight-only graphs (observed <= ~1e-6), 2e-2 where activations are fake-quantised.
Runtime: each model is lowered once per module; MiniLM runs at W4 (INT and
BitMoD) and W2, each about 4 s here (build ~2.5 s, run ~0.6 s); its W8 and
ternary cases add ~8 s and are covered on mlp and llama-tiny.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest
import tvm
import tvm_ffi

from bitsmith.api import load, lower
from bitsmith.backends.tvm.errors import BackendError
from bitsmith.backends.tvm.graph_runtime import (GraphRunner, build_module, device, layer_graph, placeholder_inputs,
                                                 relative_error, time_layers, tolerance)
from bitsmith.backends.tvm.lower import lower_graph
from bitsmith.backends.tvm.packing import PackingError
from bitsmith.compiler import compile_model
from bitsmith.ir.dtypes import dtype
from bitsmith.ir.graph import GraphBuilder
from bitsmith.ir.interpret import interpret
from bitsmith.ir.ops import Op
from bitsmith.ir.types import TensorType
from bitsmith.passes.quantize_weights import quantize_weights

# groups along K: mlp's K (64, 128) and MiniLM's (384, 1536) take 32 / 128; llama-tiny's
# down_proj has K = 172, so it takes one scale per output channel
GROUPING = {"mlp": dict(group_size=32), "minilm": dict(group_size=128),
            "llama-tiny": dict(group_size=None, granularity="channel")}
W_FORMATS = ["int8", "int4_sym", "bitmod4", "int2_sym", "ternary"]


@cache
def _model(name: str, phase: str = "prefill"):
    loaded = load(name, phase=phase)
    graph = lower(loaded)
    inputs = {v.name: x.detach().numpy() for v, x in zip(graph.inputs, loaded.example_inputs, strict=True)}
    return graph, inputs


def _check(name: str, scheme: str | None, phase: str = "prefill") -> None:
    """On the exact ("float") kernel paths; the integer paths: test_tvm_kernel_paths.py."""
    graph, inputs = _model(name, phase)
    if scheme is not None:
        graph = quantize_weights(graph, scheme, **GROUPING[name])[0]
    runner = GraphRunner(graph, kernel="float")
    check = runner.check(inputs)
    assert check.ok, check.describe()
    assert len(runner.lowered.packed) == (0 if scheme is None else sum(n.op is Op.LINEAR for n in graph.nodes))


@pytest.mark.parametrize("scheme", [None, *W_FORMATS])
@pytest.mark.parametrize("name", ["mlp", "llama-tiny"])
def test_small_models_match_interpret(name: str, scheme: str | None) -> None:
    _check(name, scheme)


@pytest.mark.parametrize("scheme", W_FORMATS)
def test_minilm_matches_interpret(scheme: str) -> None:
    _check("minilm", scheme)


def test_llama_decode_with_kv_cache_matches_interpret() -> None:
    _check("llama-tiny", "int4_sym", phase="decode")


def test_resnet_tiny_conv_and_pooling_match_interpret() -> None:
    _check("resnet-tiny", None)


def test_activation_quantisers_match_within_their_tolerance() -> None:
    """int8_systolic puts a per-token int8 fake_quant before every GEMM."""
    graph, inputs = _model("llama-tiny")
    compiled = compile_model(graph, "int8_systolic", group_size=None).graph
    assert any(n.op is Op.FAKE_QUANT for n in compiled.nodes) and tolerance(compiled) == 2e-2
    check = GraphRunner(compiled).check(inputs)
    assert check.ok, check.describe()


@pytest.mark.parametrize("attrs", [
    dict(format="int8", granularity="token"),
    dict(format="uint8", granularity="token"),
    dict(format="uint8", granularity="tensor", scale=0.02, zero_point=100),
    dict(format="fp8_e4m3", granularity="token"),
    dict(format="nf4", granularity="tensor", scale=0.5),
])
def test_fake_quant_lowering_matches_its_numpy_definition(attrs: dict) -> None:
    b = GraphBuilder("fq")
    x = b.input("x", TensorType((6, 40), dtype("f32")))
    graph = b.build([b.op(Op.FAKE_QUANT, [x], attrs)])
    data = {"x": np.random.default_rng(1).standard_normal((6, 40)).astype(np.float32)}
    assert relative_error(GraphRunner(graph)(data), interpret(graph, data)) < 1e-6


def test_weights_are_parameters_so_equal_layers_share_a_module() -> None:
    graph, _ = _model("minilm")
    graph = quantize_weights(graph, "int4_sym", group_size=128)[0]
    query, key = (graph.producer(f"encoder.layer.0.attention.self.{n}") for n in ("query", "key"))
    lowered = [lower_graph(layer_graph(graph, node)) for node in (query, key)]
    assert tvm_ffi.structural_equal(lowered[0].module, lowered[1].module)
    assert not np.array_equal(lowered[0].param_arrays[0], lowered[1].param_arrays[0])
    assert [name.rsplit(".", 1)[-1] for name in lowered[0].param_names] == ["codes4", "scales", "bias"]


def test_time_layers_times_every_gemm_and_the_whole_model_times_too() -> None:
    graph, inputs = _model("mlp")
    graph = quantize_weights(graph, "int4_sym", group_size=32)[0]
    timings = time_layers(graph, repeat=3, min_repeat_ms=1)
    assert list(timings) == [n.name for n in graph.nodes if n.op is Op.LINEAR]
    whole = GraphRunner(graph).measure(inputs, repeat=3, min_repeat_ms=1)
    for timing in [*timings.values(), whole]:
        assert len(timing.samples_s) == 3 and timing.median_s == sorted(timing.samples_s)[1] > 0


# --- refusals ------------------------------------------------------------------------------
def test_a_format_without_a_kernel_is_a_one_line_error() -> None:
    graph = quantize_weights(_model("mlp")[0], "olive4", group_size=32)[0]
    with pytest.raises(PackingError, match=r"^weight 0\.weight: olive4 has an outlier side-table; no TVM kernel "
                                           r"handles outliers$"):
        lower_graph(graph)


def test_a_group_the_packing_cannot_hold_is_a_one_line_error() -> None:
    graph = quantize_weights(_model("mlp")[0], "int4_sym", group_size=4)[0]
    with pytest.raises(PackingError, match=r"group size 4 is not a multiple of 8 elements") as err:
        lower_graph(graph)
    assert "\n" not in str(err.value)


def test_a_shape_only_graph_is_refused() -> None:
    b = GraphBuilder("big")
    x = b.input("x", TensorType((1, 8), dtype("f32")))
    w = b.constant("w", type=TensorType((8, 8), dtype("f32")))
    graph = b.build([b.op(Op.LINEAR, [x, w])])
    with pytest.raises(BackendError, match=r"^graph big is shape-only \(constant %w has no data\)"):
        lower_graph(graph)


@pytest.mark.skipif(tvm.cuda().exist, reason="a CUDA GPU is present")
def test_cuda_without_a_gpu_is_a_one_line_error() -> None:
    with pytest.raises(BackendError, match=r"^CUDA requested but no CUDA GPU is visible to TVM on this machine$"):
        device("cuda")


def test_placeholder_inputs_have_valid_ids_and_masks() -> None:
    graph, _ = _model("minilm")
    inputs = placeholder_inputs(graph)
    assert all((a == 1).all() for a in inputs.values())  # ids and masks are integers here
    assert GraphRunner(quantize_weights(graph, "int4_sym", group_size=128)[0]).check(inputs).ok


# --- CUDA ------------------------------------------------------------------------------------
CUDA_CODEGEN = tvm_ffi.get_global_func("target.build.cuda", allow_missing=True) is not None


@pytest.mark.skipif(not CUDA_CODEGEN, reason="this TVM build has no CUDA code generator")
def test_the_same_lowering_compiles_for_cuda_without_a_gpu() -> None:
    """dlight schedules the Relax ops and gpu.py the packed kernels; TVM's GPU
    memory verification would reject any kernel left without thread bindings."""
    from bitsmith.backends.tvm.gpu import GPU_PATHS, gpu_kernel

    target = tvm.target.Target({"kind": "cuda", "arch": "sm_80"})
    # minilm: linear biases (the kernel's accumulator must then stay in registers); resnet: quantised
    # convs (im2col) too, the stem's groups of 3 kept in float
    for name in ("llama-tiny", "minilm", "resnet-tiny"):
        base = _model(name)[0]
        graph = quantize_weights(base, "bitmod4", group_size=None, granularity="channel")[0]
        if name == "resnet-tiny":
            stem = base.producer("stem.0").inputs[1]
            graph = dataclasses.replace(graph, constants=tuple(base.constant(stem) if c.name == stem else c
                                                               for c in graph.constants))
        module = lower_graph(graph, gpu_kernel, paths=GPU_PATHS).module
        assert isinstance(build_module(module, target), tvm.runtime.Executable)


@pytest.mark.skipif(not tvm.cuda().exist, reason="no CUDA GPU on this machine")
@pytest.mark.parametrize("name", ["mlp", "llama-tiny", "minilm"])
def test_cuda_matches_interpret(name: str) -> None:
    graph, inputs = _model(name)
    graph = quantize_weights(graph, "int4_sym", **GROUPING[name])[0]
    check = GraphRunner(graph, "cuda").check(inputs)
    assert check.ok, check.describe()
