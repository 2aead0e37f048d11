"""Real MiniLM weights quantised in the IR: the interpreter's embeddings equal
torch's with the same dequantised weights loaded, and the accuracy figures the
format benchmark prints are computed from them."""

from __future__ import annotations

import numpy as np
import torch

from bitsmith.accuracy import embedding_accuracy, minilm_reference, total_sqnr_db
from bitsmith.ir import interpret
from bitsmith.passes.quantize_weights import quantize_weights
from bitsmith.zoo import load_model
from bitsmith.zoo.minilm import ACCURACY_SENTENCES, tokenize


def test_quantised_minilm_matches_torch_with_the_dequantised_weights() -> None:
    graph, inputs, _ = minilm_reference()
    quantised, reports = quantize_weights(graph, "bitmod4")
    assert len(reports) == 36  # 6 layers x (q, k, v, attention out, MLP up, MLP down)
    module = load_model("minilm").module
    state = module.state_dict()
    for report in reports:
        state[f"bert.{report.name}"] = torch.from_numpy(quantised.constant(report.name).data.copy())
    module.load_state_dict(state)
    with torch.no_grad():
        expected = module(*tokenize(list(ACCURACY_SENTENCES))).numpy().astype(np.float64)
    accuracy = embedding_accuracy(quantised)
    ours = interpret(quantised, list(inputs))[0]
    np.testing.assert_allclose(ours, expected, atol=2e-5)
    cosines = np.sum(ours * expected, axis=1)  # both unit length
    np.testing.assert_allclose(accuracy.cosines, np.sum(ours * minilm_reference()[2], axis=1), atol=1e-6)
    assert 0.9 < accuracy.mean < 0.999 and np.all(cosines > 0.999999)


def test_eight_bit_weights_keep_the_embeddings_and_sqnr_follows_bits() -> None:
    graph, _, _ = minilm_reference()
    int8, int8_reports = quantize_weights(graph, "int8_sym")
    int4, int4_reports = quantize_weights(graph, "int4_sym")
    assert embedding_accuracy(int8).worst > 0.999
    gain = total_sqnr_db(int8_reports, graph) - total_sqnr_db(int4_reports, graph)
    assert 20 < gain < 28  # about 6 dB per bit for 4 more bits (int4_sym's grid has 15 of 16 levels)
