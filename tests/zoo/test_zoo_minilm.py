"""minilm is the real sentence-transformers pipeline: checked against sentence-transformers."""

import pytest
import torch

from bitsmith.zoo import load_model
from bitsmith.zoo.minilm import DEMO_SENTENCES, model_path, tokenize


def test_matches_sentence_transformers():
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(model_path()), device="cpu")
    expected = reference.encode(
        list(DEMO_SENTENCES), convert_to_tensor=True, normalize_embeddings=True
    )
    loaded = load_model("minilm")
    with torch.no_grad():
        ours = loaded.module(*loaded.example_inputs)
    # sentence-transformers pads to the longest sentence, we pad to 32: compare per sentence.
    cosine = torch.nn.functional.cosine_similarity(ours, expected.cpu(), dim=1)
    assert cosine.min() >= 0.99999
    assert torch.allclose(ours.norm(dim=1), torch.ones(len(DEMO_SENTENCES)), atol=1e-5)


def test_padding_does_not_change_embeddings():
    loaded = load_model("minilm")
    longer = load_model("minilm", seq_len=64)
    with torch.no_grad():
        a = loaded.module(*loaded.example_inputs)
        b = longer.module(*longer.example_inputs)
    assert (a - b).abs().max() < 1e-5


def test_tokenize_pads_to_fixed_length_without_truncating_demo():
    input_ids, attention_mask = tokenize(list(DEMO_SENTENCES))
    assert input_ids.shape == attention_mask.shape == (len(DEMO_SENTENCES), 32)
    assert input_ids.dtype == attention_mask.dtype == torch.int64
    lengths = attention_mask.sum(dim=1)
    assert (lengths < 32).all()  # every demo sentence fits, with padding after it
    assert (input_ids[attention_mask == 0] == 0).all()  # [PAD] is id 0


def test_batch_cycles_demo_sentences():
    loaded = load_model("minilm", batch=6)
    ids, _ = loaded.example_inputs
    assert ids.shape[0] == 6 and torch.equal(ids[4], ids[0])
    assert loaded.config["batch"] == 6
