"""bitsmith.ir: the typed graph IR, its validator, printer, serialisation,
the torch frontend and the numpy reference interpreter.

The torch frontend is imported lazily (`ir.from_torch`), so loading a saved graph
and interpreting it never imports torch.
"""

from typing import Any

from bitsmith.ir.dtypes import DType
from bitsmith.ir.errors import BitsmithError, ExportError, GraphFormatError, InterpretError, UnsupportedOpError, VerifyError
from bitsmith.ir.graph import Constant, Graph, GraphBuilder, Node, Value
from bitsmith.ir.interpret import interpret
from bitsmith.ir.ops import Op
from bitsmith.ir.types import TensorType

__all__ = [
    "BitsmithError", "Constant", "ExportError", "DType", "Graph", "GraphBuilder", "GraphFormatError", "InterpretError", "Node",
    "Op", "TensorType", "UnsupportedOpError", "Value", "VerifyError", "from_torch", "interpret",
]


def from_torch(*args: Any, **kwargs: Any) -> Graph:
    """Lower a torch.nn.Module to a Graph (see `bitsmith.ir.frontend.torch_export`)."""
    from bitsmith.ir.frontend.torch_export import from_torch as lower

    return lower(*args, **kwargs)
