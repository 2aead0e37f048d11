"""The model zoo: named models ready for `torch.export`, plus the user's own `file.py:factory`.

    from bitsmith.zoo import list_models, load_model
    loaded = load_model("llama2-7b", phase="decode", seq_len=512)
    ep = torch.export.export(loaded.module, loaded.example_inputs)

Small models (`mlp`, `resnet-tiny`, `llama-tiny`, `minilm`) carry real weights and are
the functional references; the large LLMs are shape-only (built on torch's meta device)
so their cost can be simulated without their memory. A name of the form
`path/to/file.py:factory` loads a user model; see `bitsmith.zoo.user_model` for what the
factory returns.
"""

from bitsmith.zoo.errors import ModelLoadError, UnknownModelError, ZooError
from bitsmith.zoo.registry import list_models, load_model
from bitsmith.zoo.spec import LoadedModel, ModelSpec

__all__ = [
    "LoadedModel",
    "ModelLoadError",
    "ModelSpec",
    "UnknownModelError",
    "ZooError",
    "list_models",
    "load_model",
]
