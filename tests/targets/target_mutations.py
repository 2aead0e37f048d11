"""Hypothesis strategies that break a valid target document in ways the schema must
reject, each invalid by construction, with the field path the error has to name.

The documents are the shipped targets written out standalone (`to_document`, no
`extends:`), so every field of every target can be hit."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import cache

import yaml
from hypothesis import strategies as st

from bitsmith.targets import Dimension, UnitError, list_targets, load_target, parse_quantity
from bitsmith.targets.document import KeyPath
from bitsmith.targets.schema import KINDS
from bitsmith.targets.validation import model_at

SHIPPED: dict[str, dict] = {name: load_target(name).to_document() for name in list_targets()}

# a value of a type the field never accepts, by the type of the value it replaces
# (ints never replace null: `group_size: null` may become a number)
_WRONG_TYPES: dict[type, list[object]] = {
    dict: [7, "x", [1], True],
    list: [7, "x", {"zz": 1}],
    bool: ["yes", 1, [1]],
    int: ["many", 2.5, True, [1], {"zz": 1}],
    float: ["x", True, [1]],
    str: [7, True, [1], {"zz": 1}],
    type(None): [[1], {"zz": 1}, "x"],
}
# DRAM takes bandwidth per cycle or per second, so those two never stand for each other
_FAMILIES = [{Dimension.BANDWIDTH_PER_CYCLE, Dimension.BANDWIDTH}]
_NUMBER_UNIT = re.compile(r"([+-]?[\d.]+(?:[eE][+-]?\d+)?)\s*(.+)")


@dataclass(frozen=True)
class Mutation:
    """`document` is broken at `path` by a mutation of kind `what`; the error must name `path`."""

    what: str
    path: KeyPath
    document: dict

    def yaml(self) -> str:
        return yaml.safe_dump(self.document, sort_keys=False, allow_unicode=True, width=10**6)


def nodes(value: object, path: KeyPath = ()) -> list[tuple[KeyPath, object]]:
    """Every value below the root, with its path."""
    found: list[tuple[KeyPath, object]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found.append(((*path, key), item))
        found.extend(nodes(item, (*path, key)))
    return found


def quantity_dimension(value: object) -> Dimension | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_quantity(value).dimension
    except UnitError:
        return None


def split(quantity: str) -> tuple[str, str]:
    """`"512KiB"` -> `("512", "KiB")`."""
    match = _NUMBER_UNIT.fullmatch(quantity.strip())
    assert match is not None, quantity
    return match.group(1), match.group(2)


def replaced(document: dict, path: KeyPath, value: object) -> dict:
    changed = copy.deepcopy(document)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return changed


def deleted(document: dict, path: KeyPath) -> dict:
    changed = copy.deepcopy(document)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return changed


@cache
def targets_of(name: str, what: str) -> list[tuple[KeyPath, object]]:
    """(path, value) pairs of `SHIPPED[name]` that mutation `what` can break."""
    document = SHIPPED[name]
    every = nodes(document)
    if what == "wrong_type":
        return every
    mappings = [(path, value) for path, value in [((), document), *every] if isinstance(value, dict)]
    if what == "missing":
        model = KINDS[document["kind"]]
        return [((*path, field), value[field]) for path, value in mappings
                if (block := model_at(model, path)) is not None
                for field, info in block.model_fields.items() if info.is_required() and field in value]
    if what == "unknown_field":
        return [((*path, "zz_unknown"), None) for path, _ in mappings]
    quantities = [(path, value) for path, value in every if quantity_dimension(value) is not None]
    if what == "not_positive":
        return [(path, value) for path, value in every if type(value) in (int, float)] + quantities
    return quantities


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    what = draw(st.sampled_from(["wrong_type", "missing", "unknown_field", "not_positive", "bad_unit"]))
    name = draw(st.sampled_from([name for name in sorted(SHIPPED) if targets_of(name, what)]))
    document = SHIPPED[name]
    path, value = draw(st.sampled_from(targets_of(name, what)))
    if what == "wrong_type":
        return Mutation(what, path, replaced(document, path, draw(st.sampled_from(_WRONG_TYPES[type(value)]))))
    if what == "missing":
        return Mutation(what, path, deleted(document, path))
    if what == "unknown_field":
        return Mutation(what, path, replaced(document, path, 1))
    if what == "not_positive":
        size = draw(st.sampled_from([0, -1, -3, -512, -1.5]))
        bad = f"{size}{split(value)[1]}" if isinstance(value, str) else size
        return Mutation(what, path, replaced(document, path, bad))
    own = quantity_dimension(value)
    family = next((f for f in _FAMILIES if own in f), {own})
    foreign = [unit for dimension in Dimension if dimension not in family for unit in dimension.units]
    number = split(value)[0]
    bad = draw(st.one_of(st.sampled_from([f"{number}{unit}" for unit in foreign]),
                         st.sampled_from([f"{number}furlongs", f"{number} parsecs", number, "many KiB"]),
                         st.sampled_from([512, 1.5, 0.56])))
    return Mutation(what, path, replaced(document, path, bad))


def one_line_with_duplicate_key(document: dict, line_index: int) -> tuple[str, str]:
    """The document's YAML with one scalar `key: value` line repeated right after
    itself, and that key."""
    lines = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=10**6).splitlines()
    candidates = [i for i, line in enumerate(lines) if ": " in line and not line.lstrip().startswith("- ")
                  and not line.rstrip().endswith(":")]
    i = candidates[line_index % len(candidates)]
    key = lines[i].split(":")[0].strip()
    return "\n".join([*lines[: i + 1], lines[i], *lines[i + 1:]]) + "\n", key
