"""Validate a target document and turn pydantic's report into one line.

pydantic lists every problem over several lines; a target error is the first
problem only, as `file:line: field.path: what is wrong`, with the line looked up in
the document's marks. Unknown fields list the valid ones.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from bitsmith.targets.document import Document, KeyPath, dotted
from bitsmith.targets.errors import TargetError
from bitsmith.targets.fields import show

T = TypeVar("T")
Root = type[BaseModel] | Mapping[str, type[BaseModel]]  # one model, or a union tagged by `kind`

_TYPE_MESSAGES = {
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "bool_type": "must be true or false",
    "string_type": "must be text",
}


def validated(validate: Callable[[object], T], document: Document, root: Root) -> T:
    """`validate(document.data)`, with a failure raised as a one-line TargetError."""
    try:
        return validate(document.data)
    except ValidationError as err:
        raise explain(err, document, root) from None


def explain(err: ValidationError, document: Document, root: Root) -> TargetError:
    """pydantic's first error as `file:line: field.path: message`; `root` is the
    model validated (or the kinds of a tagged union, whose tag leads each path)."""
    first = err.errors(include_url=False)[0]
    loc: KeyPath = tuple(part for part in first["loc"] if part != "[key]")
    kind, ctx = first["type"], first.get("ctx") or {}
    if isinstance(root, Mapping):
        if kind in ("union_tag_not_found", "union_tag_invalid"):
            got = document.data.get("kind", "nothing")
            return _error(document, ("kind",), f"must be one of {', '.join(root)}, got {show(got)}")
        model, loc = root[str(loc[0])], loc[1:]
    else:
        model = root
    if "field" in ctx:  # a model-level check naming the field it is about
        loc = (*loc, *ctx["field"].split("."))
    if kind == "missing":
        message = "required field missing"
    elif kind == "extra_forbidden":
        parent = model_at(model, loc[:-1])
        valid = f"; valid: {', '.join(parent.model_fields)}" if parent is not None else ""
        message = f"unknown field{valid}"
    elif kind == "target":
        message = ctx["message"]
    elif kind == "value_error":
        message = str(ctx.get("error", first["msg"]))
    elif kind == "literal_error":
        message = f"must be one of {ctx['expected']}, got {show(first['input'])}"
    else:
        text = _TYPE_MESSAGES.get(kind) or first["msg"][:1].lower() + first["msg"][1:]
        message = f"{text}, got {show(first['input'])}"
    return _error(document, loc, message)


def _error(document: Document, path: KeyPath, message: str) -> TargetError:
    field = f"{dotted(path)}: " if path else ""
    return TargetError(" ".join(f"{document.locate(path)}: {field}{message}".split("\n")))


def model_at(model: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    """The model class describing the mapping at `path` below `model` (through
    optional fields and name-keyed mappings such as `buffers`), or None if the path
    does not lead to one."""
    current: object = model
    keyed = False  # the next path part is a mapping key, not a field name
    for part in path:
        if keyed:
            keyed = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current, keyed = _unwrap(current.model_fields[part].annotation)
    if keyed or not (isinstance(current, type) and issubclass(current, BaseModel)):
        return None
    return current


def _unwrap(annotation: object) -> tuple[object, bool]:
    """The model inside `X | None`, `Annotated[X, ...]` or `dict[str, X]` (then
    True: a key comes next in a path)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(members[0]) if len(members) == 1 else (annotation, False)
    if origin is dict:
        return _unwrap(typing.get_args(annotation)[1])[0], True
    return annotation, False
