"""The catalogue: every name loads, flags are right, small models run, bad requests fail loudly."""

import pytest
import torch

from bitsmith.zoo import LoadedModel, UnknownModelError, ZooError, list_models, load_model

SHAPE_ONLY = {"llama2-7b", "llama2-13b", "llama3-8b", "opt-1.3b", "phi-2", "yi-6b"}
REAL = {"mlp", "resnet-tiny", "llama-tiny", "minilm"}


def test_names_are_unique_and_complete():
    names = [spec.name for spec in list_models()]
    assert len(names) == len(set(names))
    assert set(names) == SHAPE_ONLY | REAL


def test_specs_describe_the_models():
    for spec in list_models():
        assert spec.shape_only == (spec.name in SHAPE_ONLY), spec.name
        assert spec.family in {"mlp", "cnn", "decoder", "encoder"}
        assert spec.description and "\n" not in spec.description
        assert spec.source


@pytest.mark.parametrize("name", sorted(SHAPE_ONLY | REAL))
def test_every_name_loads(name):
    loaded = load_model(name)
    assert isinstance(loaded, LoadedModel)
    assert loaded.name == name
    assert not loaded.module.training
    assert len(loaded.input_names) == len(loaded.example_inputs)
    assert loaded.shape_only == (name in SHAPE_ONLY)
    on_meta = {p.is_meta for p in loaded.module.parameters()} | {
        x.is_meta for x in loaded.example_inputs
    }
    assert on_meta == {loaded.shape_only}


@pytest.mark.parametrize(
    ("name", "options", "shape"),
    [
        ("mlp", {}, (1, 10)),
        ("mlp", {"batch": 3}, (3, 10)),
        ("resnet-tiny", {"batch": 2}, (2, 10)),
        ("llama-tiny", {}, (1, 16, 256)),
        ("llama-tiny", {"phase": "decode", "seq_len": 5, "batch": 2}, (2, 1, 256)),
        ("minilm", {}, (4, 384)),
    ],
)
def test_small_models_run(name, options, shape):
    loaded = load_model(name, **options)
    with torch.no_grad():
        out = loaded.module(*loaded.example_inputs)
    assert out.shape == shape
    assert torch.isfinite(out).all()


def test_seed_fixes_weights_and_inputs():
    a, b, c = (
        load_model("resnet-tiny", seed=3),
        load_model("resnet-tiny", seed=3),
        load_model("resnet-tiny"),
    )
    assert torch.equal(a.example_inputs[0], b.example_inputs[0])
    assert torch.equal(a.module.fc.weight, b.module.fc.weight)
    assert not torch.equal(a.module.fc.weight, c.module.fc.weight)


def test_resnet_batchnorms_are_not_identity():
    bns = [
        m for m in load_model("resnet-tiny").module.modules() if isinstance(m, torch.nn.BatchNorm2d)
    ]
    assert len(bns) == 6  # stem, 2 per block, downsample
    for bn in bns:
        assert bn.running_mean.abs().min() > 0 and not torch.allclose(
            bn.running_var, torch.ones_like(bn.running_var)
        )
        assert not torch.allclose(bn.weight, torch.ones_like(bn.weight)) and bn.bias.abs().min() > 0


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownModelError) as info:
        load_model("lama")
    message = str(info.value)
    assert message.startswith("unknown model 'lama'; valid: mlp, resnet-tiny")
    assert all(spec.name in message for spec in list_models())
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "options", "fragment"),
    [
        ("mlp", {"phase": "decode"}, "no 'decode' phase"),
        ("resnet-tiny", {"seq_len": 8}, "takes no seq_len"),
        ("minilm", {"phase": "decode"}, "no 'decode' phase"),
        ("minilm", {"seq_len": 1000}, "seq_len 1000 out of range"),
        ("llama2-7b", {"phase": "generate"}, "unknown phase 'generate'"),
        ("llama2-7b", {"seq_len": 4096, "phase": "decode"}, "out of range for decode"),
        ("llama-tiny", {"batch": 0}, "batch must be >= 1"),
    ],
)
def test_bad_options_raise_zoo_error(name, options, fragment):
    with pytest.raises(ZooError, match=fragment) as info:
        load_model(name, **options)
    assert "\n" not in str(info.value)
