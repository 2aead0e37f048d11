"""A target document: the plain data of a YAML file plus where each key was written.

Errors must name the file and line of the offending key, even after `extends:` has
merged several files, so every key path carries a `Mark` (file, line) and merging
keeps the mark of whichever file supplied the value. YAML is read node by node
rather than with `yaml.safe_load`, which silently keeps the last of two duplicate
keys and forgets line numbers; here a duplicate key is an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from bitsmith.targets.errors import TargetError

KeyPath = tuple[str | int, ...]

if yaml.__with_libyaml__:
    from yaml.cyaml import CParser

    class _Loader(yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml's parser (fast, and iterative) under PyYAML's Python composer:
        libyaml's own composer recurses in C and crashes the interpreter on deeply
        nested input, where Python's raises a RecursionError that can be reported."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAX_NODES = 100_000  # aliases can expand a small file exponentially ("billion laughs")


@dataclass(frozen=True)
class Mark:
    """Where a value was written: a file (or "override of NAME") and a 1-based line."""

    origin: str
    line: int | None = None

    def __str__(self) -> str:
        return self.origin if self.line is None else f"{self.origin}:{self.line}"


@dataclass(frozen=True)
class Document:
    """A top-level mapping and the mark of each key path in it (`()` is the root)."""

    data: dict[str, object]
    marks: dict[KeyPath, Mark]

    def locate(self, path: KeyPath) -> Mark:
        """The mark of `path`, or of its nearest written ancestor (a missing key
        is reported at the mapping that lacks it)."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark is not None:
                return mark
        return Mark("<target>")

    def without(self, key: str) -> Document:
        data = {k: v for k, v in self.data.items() if k != key}
        marks = {p: m for p, m in self.marks.items() if p[:1] != (key,)}
        return Document(data, marks)

    def merged(self, top: Document) -> Document:
        """`top` laid over this document: mappings merge key by key, anything else
        in `top` (a scalar, a list, null) replaces what was here."""
        marks: dict[KeyPath, Mark] = {}
        data = _merge(self.data, top.data, (), self, top, marks)
        root = top.marks.get(()) or self.marks.get(())
        if root is not None:
            marks[()] = root
        return Document(data, marks)


def dotted(path: KeyPath) -> str:
    """`("pe_array", "rows")` -> `pe_array.rows`; list positions as `weights[2]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def from_mapping(data: Mapping[str, object], origin: str) -> Document:
    """A document built in Python: every error points at `origin` (no lines)."""
    if not isinstance(data, Mapping):
        raise TargetError(f"{origin}: a target must be a mapping of fields, got {type(data).__name__}")
    return Document(_plain(data, origin, ()), {(): Mark(origin)})


def _plain(value: object, origin: str, path: KeyPath) -> object:
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                field = f"{dotted(path)}: " if path else ""
                raise TargetError(f"{origin}: {field}keys must be text, got {key!r}")
        return {key: _plain(item, origin, (*path, key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, origin, (*path, i)) for i, item in enumerate(value)]
    return value


def read_yaml_file(path: str | os.PathLike[str], fields: str, error: type[Exception]) -> Document:
    """`read_yaml` of the file at `path`; an unreadable or malformed file raises
    `error` (the caller's own error type: a pipeline's, a sweep's) with one line."""
    origin = os.fspath(path)
    try:
        return read_yaml(Path(path).read_bytes(), origin, fields)
    except OSError as err:
        raise error(f"{origin}: cannot read: {err.strerror or err}") from None
    except TargetError as err:
        raise error(str(err)) from None


def read_yaml(raw: bytes, origin: str, fields: str = "target fields") -> Document:
    """Parse one YAML document whose top level must be a mapping (of `fields`, as
    messages call them); any problem is a one-line `TargetError` naming `origin`
    and, where there is one, the line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TargetError(f"{origin}: not UTF-8 text (byte {raw[err.start]:#04x} at offset {err.start})") from None
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise TargetError(f"{origin}: empty file; expected a mapping of {fields}")
        if not isinstance(root, yaml.MappingNode):
            raise TargetError(f"{origin}:{_line(root)}: the top level must be a mapping of {fields}, "
                              f"got {_kind(root)}")
        builder = _Builder(loader, origin)
        data = builder.build(root, ())
        return Document(data, builder.marks)
    except yaml.YAMLError as err:
        raise TargetError(f"{origin}{_where(err)}: invalid YAML: {_one_line(err)}") from None
    except RecursionError:
        raise TargetError(f"{origin}: invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()


class _Builder:
    """Turns composed YAML nodes into plain dicts, lists and scalars, recording the
    line of every key and refusing duplicate keys, merge keys and recursive aliases."""

    def __init__(self, loader: yaml.SafeLoader, origin: str) -> None:
        self.loader = loader
        self.origin = origin
        self.marks: dict[KeyPath, Mark] = {}
        self.count = 0
        self.open: set[int] = set()

    def build(self, node: yaml.Node, path: KeyPath) -> object:
        if path not in self.marks:
            self.marks[path] = Mark(self.origin, _line(node))
        self.count += 1
        if self.count > _MAX_NODES:
            raise self.error(node, path, f"more than {_MAX_NODES} values (alias expansion?)")
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.open:
            raise self.error(node, path, "an alias refers to a value that contains it")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self.require_tag(node, path, _SEQ_TAG)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            self.require_tag(node, path, _MAP_TAG)
            return self.mapping(node, path)
        finally:
            self.open.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, object]:
        result: dict[str, object] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.error(key_node, path, "merge keys (<<) are not supported; use `extends:`")
            key = self.scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                shown = repr(key) if isinstance(key_node, yaml.ScalarNode) else _kind(key_node)
                raise self.error(key_node, path, f"keys must be text, got {shown}")
            if key in first_line:
                raise self.error(key_node, (*path, key), f"duplicate key (first at line {first_line[key]})")
            first_line[key] = _line(key_node)
            self.marks[(*path, key)] = Mark(self.origin, _line(key_node))
            result[key] = self.build(value_node, (*path, key))
        return result

    def scalar(self, node: yaml.ScalarNode, path: KeyPath) -> object:
        """The value of a scalar, by YAML's rules; a tagged or date-like scalar that
        does not convert (`2024-13-45`, `!!float abc`) is an error, not a crash."""
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as err:
            kind = node.tag.rsplit(":", 1)[-1]
            raise self.error(node, path, f"cannot read {node.value!r} as {kind}: {err}") from None

    def require_tag(self, node: yaml.Node, path: KeyPath, tag: str) -> None:
        if node.tag != tag:
            raise self.error(node, path, f"unsupported YAML tag {node.tag}")

    def error(self, node: yaml.Node, path: KeyPath, message: str) -> TargetError:
        field = f"{dotted(path)}: " if path else ""
        return TargetError(f"{self.origin}:{_line(node)}: {field}{message}")


_ABSENT = object()


def _merge(lower: object, upper: object, path: KeyPath, base: Document, top: Document,
           marks: dict[KeyPath, Mark]) -> object:
    if not (isinstance(lower, dict) and isinstance(upper, dict)):
        marks.update(_under(top.marks, path))
        return upper
    result: dict[str, object] = {}
    for key in [*lower, *(k for k in upper if k not in lower)]:
        sub = (*path, key)
        if key in upper:
            marks[sub] = top.locate(sub)  # a value `top` supplies is reported against `top`
            result[key] = _merge(lower.get(key, _ABSENT), upper[key], sub, base, top, marks)
        else:
            result[key] = lower[key]
            marks.update(_under(base.marks, sub))
    return result


def _under(marks: dict[KeyPath, Mark], prefix: KeyPath) -> dict[KeyPath, Mark]:
    return {p: m for p, m in marks.items() if p[: len(prefix)] == prefix}


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return "a list" if isinstance(node, yaml.SequenceNode) else f"the scalar {node.value!r}"


def _where(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return f":{mark.line + 1}" if mark is not None else ""


def _one_line(err: yaml.YAMLError) -> str:
    parts = [getattr(err, "context", None), getattr(err, "problem", None)]
    text = ", ".join(part for part in parts if isinstance(part, str) and part) or str(err)
    return " ".join(text.split())
