"""What every target kind shares: strict, frozen blocks; a name, description and
source; writing back to YAML; and validated overrides (how design-space
exploration builds variants)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict

from bitsmith.targets.document import Document, Mark, from_mapping
from bitsmith.targets.errors import TargetError
from bitsmith.targets.fields import Identifier, Text
from bitsmith.targets.validation import validated


class Block(BaseModel):
    """A mapping in a target file: unknown keys are errors, values never coerce
    between types, and a validated block cannot be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TargetBase(Block):
    """Fields of every target. `name` is not inherited through `extends:`: each
    file names the target it defines."""

    name: Identifier
    kind: str
    description: Text
    source: Text

    def to_document(self) -> dict[str, object]:
        """Plain data, quantities as text with units, fields left at their default
        (null) omitted: what `to_yaml` writes."""
        return self.model_dump(mode="python", exclude_defaults=True)

    def to_yaml(self) -> str:
        """A standalone YAML file (no `extends:`) that loads back to an equal target."""
        return yaml.safe_dump(self.to_document(), sort_keys=False, allow_unicode=True, width=100)

    def override(self, changes: Mapping[str, object]) -> Self:
        """A new, validated target with `changes` applied. Keys are dotted paths
        (`{"pe_array.rows": 32, "clock": "800MHz"}`); a mapping value merges into the
        block it names, as `extends:` does. Raises a one-line TargetError."""
        origin = f"override of {self.name}"
        patch: dict[str, object] = {}
        for dotted_key, value in changes.items():
            parts = dotted_key.split(".") if isinstance(dotted_key, str) else [""]
            if not all(parts):
                raise TargetError(f"{origin}: {dotted_key!r} is not a dotted field path")
            node = patch
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise TargetError(f"{origin}: {dotted_key}: {part} is given a value and sub-fields at once")
                node = child
            node[parts[-1]] = copy.deepcopy(value)  # later sub-fields must not write into the caller's mapping
        base = Document(self.to_document(), {(): Mark(origin)})
        document = base.merged(from_mapping(patch, origin))
        return validated(type(self).model_validate, document, type(self))
