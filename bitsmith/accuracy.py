"""Accuracy of a quantised model where it can be judged on meaning: MiniLM sentence
embeddings, compared with the fp32 model's by cosine similarity.

A weight's SQNR says how close each tensor stays; the embedding cosine says whether
the errors of all layers together still leave the sentence vectors where they were,
which is what a user of the encoder sees. Both are computed with the reference
interpreter, so the quantised weights are exactly those the IR carries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from bitsmith.ir import Graph, interpret
from bitsmith.passes.quantize_weights import WeightReport


@dataclass(frozen=True)
class EmbeddingAccuracy:
    cosines: tuple[float, ...]  # per sentence, quantised vs fp32

    @property
    def mean(self) -> float:
        return float(np.mean(self.cosines))

    @property
    def worst(self) -> float:
        return float(np.min(self.cosines))


@cache
def minilm_reference() -> tuple[Graph, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The fp32 MiniLM graph lowered for `ACCURACY_SENTENCES`, its inputs, and its
    embeddings (computed once per process)."""
    from bitsmith.api import lower
    from bitsmith.zoo.minilm import ACCURACY_SENTENCES, tokenize

    graph = lower("minilm", batch=len(ACCURACY_SENTENCES))
    input_ids, mask = tokenize(list(ACCURACY_SENTENCES))
    inputs = (input_ids.numpy(), mask.numpy())
    return graph, inputs, interpret(graph, list(inputs))[0]


def embedding_accuracy(quantised: Graph) -> EmbeddingAccuracy:
    """Cosine between each sentence's embedding from `quantised` (a MiniLM graph from
    `minilm_reference()` with quantised weights) and from the fp32 graph."""
    _, inputs, reference = minilm_reference()
    ours = interpret(quantised, list(inputs))[0].astype(np.float64)
    ref = reference.astype(np.float64)
    cosines = np.sum(ours * ref, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    return EmbeddingAccuracy(tuple(float(c) for c in cosines))


def total_sqnr_db(reports: Sequence[WeightReport], original: Graph) -> float:
    """SQNR over all quantised weights together: Σ‖w‖² / Σ‖Q(w) − w‖², in dB."""
    signal = noise = 0.0
    for report in reports:
        w = original.constant(report.name).data.astype(np.float64)
        signal += float(np.sum(w * w))
        noise += (report.relative_rms_error ** 2) * float(np.sum(w * w))
    return math.inf if noise == 0 else 10 * math.log10(signal / noise)
