"""User models `file.py:factory`: both return forms; one-line errors naming file and factory."""

import textwrap

import pytest
import torch

from bitsmith.zoo import ModelLoadError, ZooError, load_model

MODELS = textwrap.dedent(
    """
    import torch

    class Scale(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)

        def forward(self, features, bias):
            return self.lin(features) + bias

    def with_attribute():
        module = Scale()
        module.example_inputs = (torch.ones(2, 4), torch.zeros(3))
        return module

    def as_tuple():
        return Scale(), (torch.ones(2, 4), torch.zeros(3))

    def on_meta():
        with torch.device("meta"):
            return torch.nn.Linear(4, 3), (torch.empty(2, 4),)

    def raises():
        raise ValueError("bad width\\nsecond line")

    def not_a_module():
        return 42

    def no_example_inputs():
        return Scale()

    def list_inputs():
        return Scale(), [torch.ones(2, 4)]

    NOT_CALLABLE = 3
    """
)


@pytest.fixture
def models_file(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


@pytest.mark.parametrize("factory", ["with_attribute", "as_tuple"])
def test_factory_forms_load(models_file, factory):
    loaded = load_model(f"{models_file}:{factory}")
    assert loaded.input_names == ("features", "bias")
    assert not loaded.shape_only and not loaded.module.training
    assert loaded.module(*loaded.example_inputs).shape == (2, 3)


def test_seed_makes_user_weights_reproducible(models_file):
    a = load_model(f"{models_file}:as_tuple", seed=5).module.lin.weight
    b = load_model(f"{models_file}:as_tuple", seed=5).module.lin.weight
    assert torch.equal(a, b)


def test_meta_user_model_is_shape_only(models_file):
    loaded = load_model(f"{models_file}:on_meta")
    assert loaded.shape_only
    assert loaded.input_names == ("input",)


@pytest.mark.parametrize(
    ("suffix", "fragment"),
    [
        ("nosuch", "no function 'nosuch' in the file"),
        ("NOT_CALLABLE", "'NOT_CALLABLE' is not callable"),
        ("raises", "factory raised ValueError: bad width"),
        ("not_a_module", "factory returned int; expected an nn.Module"),
        ("no_example_inputs", "module without .example_inputs"),
        ("list_inputs", "example_inputs must be a tuple of tensors, got list"),
    ],
)
def test_bad_factories(models_file, suffix, fragment):
    reference = f"{models_file}:{suffix}"
    with pytest.raises(ModelLoadError) as info:
        load_model(reference)
    message = str(info.value)
    assert message.startswith(f"{reference}: ") and fragment in message
    assert "\n" not in message


def test_missing_file(tmp_path):
    reference = f"{tmp_path / 'missing.py'}:f"
    with pytest.raises(ModelLoadError, match=r"missing\.py:f: file not found$"):
        load_model(reference)


def test_file_that_fails_to_import(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import torch\nraise RuntimeError('no GPU here')\n")
    with pytest.raises(
        ModelLoadError, match=r"broken.py:make: importing the file raised RuntimeError: no GPU here"
    ):
        load_model(f"{path}:make")


def test_zoo_options_are_refused_for_user_models(models_file):
    with pytest.raises(ZooError, match="takes no seq_len, phase or batch"):
        load_model(f"{models_file}:as_tuple", phase="decode")
