"""The registry of ATen converters, and the helpers every converter module shares.

A converter takes the lowering state and an fx node and returns the IR value name
(or a tuple of them for ops with several outputs, None where an output has no IR
counterpart). The converters themselves live by op family in `aten_ops.py` and
`aten_elementwise.py`; importing `aten_ops` registers them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch.fx

from bitsmith.ir.errors import UnsupportedOpError
from bitsmith.ir.frontend.torch_export import origin_of

if TYPE_CHECKING:
    from bitsmith.ir.frontend.torch_export import _Lowering

Converter = Callable[["_Lowering", torch.fx.Node], Any]
CONVERTERS: dict[str, Converter] = {}


def converts(*targets: str) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of `aten.<target>` for each target."""
    def register(fn: Converter) -> Converter:
        for target in targets:
            CONVERTERS[f"aten.{target}"] = fn
        return fn
    return register


def node_arg(node: torch.fx.Node, index: int, key: str, default: Any = None) -> Any:
    """An argument given by position or by keyword (torch.export records either)."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(key, default)


def unsupported(node: torch.fx.Node, why: str) -> UnsupportedOpError:
    return UnsupportedOpError(f"unsupported {node.target}: {why} (from {origin_of(node)})")


def positive_axis(axis: int, rank: int) -> int:
    """`axis` counted from the front (torch allows negative axes)."""
    return axis % rank if rank else 0
