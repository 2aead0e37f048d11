"""A target is one of three kinds, told apart by its `kind` field."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from bitsmith.targets.accelerator import Accelerator
from bitsmith.targets.base import TargetBase
from bitsmith.targets.cpu import CPU
from bitsmith.targets.document import Document
from bitsmith.targets.gpu import GPU
from bitsmith.targets.validation import validated

Target = Annotated[Accelerator | CPU | GPU, Field(discriminator="kind")]
KINDS: dict[str, type[TargetBase]] = {"accelerator": Accelerator, "cpu": CPU, "gpu": GPU}
_ADAPTER: TypeAdapter[Accelerator | CPU | GPU] = TypeAdapter(Target)


def validate_target(document: Document) -> Accelerator | CPU | GPU:
    """The target `document` describes; a one-line TargetError naming file, line
    and field otherwise."""
    return validated(_ADAPTER.validate_python, document, KINDS)
