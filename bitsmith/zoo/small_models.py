"""Small models with real, seeded weights: `mlp` and `resnet-tiny`.

They are small enough to run end to end (interpreter, simulator, TVM) in a test, so
they carry the functional checks that shape-only LLMs cannot.
"""

from __future__ import annotations

import torch
from torch import nn

from bitsmith.zoo.spec import LoadedModel

MLP_SIZES = (64, 128, 128, 10)
IMAGE_SIZE = 32
RESNET_CHANNELS = (16, 32)
NUM_CLASSES = 10


def build_mlp(*, batch: int, seed: int) -> LoadedModel:
    """Linear-ReLU-Linear-GELU-Linear: the smallest graph with two activation kinds."""
    d_in, h1, h2, d_out = MLP_SIZES
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = nn.Sequential(
            nn.Linear(d_in, h1), nn.ReLU(), nn.Linear(h1, h2), nn.GELU(), nn.Linear(h2, d_out)
        ).eval()
    x = torch.randn(batch, d_in, generator=torch.Generator().manual_seed(seed))
    config = {"family": "mlp", "layer_sizes": MLP_SIZES, "batch": batch}
    return LoadedModel("mlp", module, (x,), ("x",), shape_only=False, config=config)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv+BN, identity or 1x1 conv+BN shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + shortcut)


class ResNetTiny(nn.Module):
    """Stem (conv+BN+ReLU, max-pool), an identity block, a stride-2 block, pool, fc."""

    def __init__(self) -> None:
        super().__init__()
        c0, c1 = RESNET_CHANNELS
        self.stem = nn.Sequential(
            nn.Conv2d(3, c0, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c0),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        self.layer1 = BasicBlock(c0, c0, stride=1)
        self.layer2 = BasicBlock(c0, c1, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c1, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def _randomise_batchnorm(module: nn.Module, generator: torch.Generator) -> None:
    """Give every BN non-trivial statistics and affine terms.

    Fresh BNs are the identity in eval mode (mean 0, var 1, weight 1, bias 0), which
    would let a wrong BN-folding pass go unnoticed.
    """
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            bn.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            bn.weight.data.copy_(0.5 + torch.rand(n, generator=generator))
            bn.bias.data.copy_(0.1 * torch.randn(n, generator=generator))


def build_resnet_tiny(*, batch: int, seed: int) -> LoadedModel:
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = ResNetTiny()
    with torch.no_grad():
        _randomise_batchnorm(module, generator)
    module.eval()
    x = torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    config = {
        "family": "cnn",
        "channels": RESNET_CHANNELS,
        "image_size": IMAGE_SIZE,
        "num_classes": NUM_CLASSES,
        "batch": batch,
    }
    return LoadedModel("resnet-tiny", module, (x,), ("image",), shape_only=False, config=config)
