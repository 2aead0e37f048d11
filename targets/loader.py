"""Load targets from YAML files, from the shipped library by name, or from Python
mappings, resolving `extends:` chains.

`extends: NAME` names a shipped target; `extends: path/to/file.yaml` (anything with
a `/` or ending in `.yaml`/`.yml`) is a file relative to the extending file. The
extending document is laid over its parent: mappings merge key by key, any other
value (scalar, list, null) replaces the parent's. Chains may be of any depth; a
cycle is an error naming it. `name` is never inherited.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from importlib.resources import files
from pathlib import Path

from bitsmith.targets.document import Document, from_mapping, read_yaml
from bitsmith.targets.errors import TargetError
from bitsmith.targets.fields import show
from bitsmith.targets.schema import Target, validate_target

_SUFFIXES = (".yaml", ".yml")


def library_dir() -> Traversable:
    """The folder of shipped target files (inside the installed package)."""
    return files("bitsmith.targets").joinpath("library")


def list_targets() -> list[str]:
    """Names of the shipped targets, sorted."""
    return sorted(entry.name.removesuffix(".yaml") for entry in library_dir().iterdir() if entry.name.endswith(".yaml"))


def load_target(name_or_path: str | os.PathLike[str]) -> Target:
    """A shipped target by name (`bitmod`), or a target file by path."""
    source = _source(name_or_path, None, where="")
    return validate_target(_resolve(source, source.read()))


def target_from_yaml(text: str, origin: str = "<string>") -> Target:
    """A target from YAML text; relative `extends:` paths resolve from the current
    directory, and errors name `origin`."""
    source = _Source(origin, f"<{origin}>", None, Path.cwd())
    return validate_target(_resolve(source, read_yaml(text.encode("utf-8", "surrogatepass"), origin)))


def target_from_dict(data: Mapping[str, object], origin: str = "<dict>") -> Target:
    """A target built in Python from the same fields a YAML file has (`extends:`
    included)."""
    source = _Source(origin, f"<{origin}>", None, Path.cwd())
    return validate_target(_resolve(source, from_mapping(data, origin)))


@dataclass(frozen=True)
class _Source:
    label: str  # how messages name it
    key: str  # identity, to recognise a cycle
    file: Traversable | None  # None: text or a mapping given directly
    base: Traversable  # where its relative `extends:` paths start

    def read(self) -> Document:
        assert self.file is not None
        try:
            raw = self.file.read_bytes()
        except OSError as err:
            raise TargetError(f"{self.label}: cannot read: {err.strerror or err}") from None
        return read_yaml(raw, self.label)


def _source(ref: str | os.PathLike[str], child: _Source | None, where: str) -> _Source:
    """The file `ref` names: a path (relative to the extending `child`, or to the
    current directory) or a shipped target's name. `where` prefixes errors
    (`child.yaml:3: extends: `)."""
    text = os.fspath(ref)
    base = child.base if child is not None else Path.cwd()
    if isinstance(ref, os.PathLike) or text.endswith(_SUFFIXES) or "/" in text or os.sep in text:
        if isinstance(base, Path):
            path = base / text
            if not path.is_file():
                raise TargetError(f"{where}no such file {text!r}")
            label = os.path.normpath(os.path.join(os.path.dirname(child.label) if child else "", text))
            return _Source(label, str(path.resolve()), path, path.parent)
        file = base.joinpath(text)
        if not file.is_file():
            raise TargetError(f"{where}no such file {text!r} beside the shipped targets")
        return _Source(text, f"library:{text}", file, base)
    file = library_dir().joinpath(f"{text}.yaml")
    if not text or not file.is_file():
        raise TargetError(f"{where}unknown target {text!r}; shipped: {', '.join(list_targets())}; "
                          f"or give a path to a .yaml file")
    return _Source(f"{text}.yaml", f"library:{text}.yaml", file, library_dir())


def _resolve(source: _Source, document: Document) -> Document:
    """`document` with its `extends:` chain merged in, root first."""
    chain = [(source, document)]
    while "extends" in chain[-1][1].data:
        child_source, child = chain[-1]
        ref = child.data["extends"]
        where = f"{child.locate(('extends',))}: extends: "
        if type(ref) is not str or not ref.strip():
            raise TargetError(f"{where}must be a target name or a path to a .yaml file, got {show(ref)}")
        parent = _source(ref, child_source, where)
        keys = [s.key for s, _ in chain]
        if parent.key in keys:
            cycle = [s.label for s, _ in chain[keys.index(parent.key):]] + [parent.label]
            raise TargetError(f"{where}cycle {' -> '.join(cycle)}")
        chain.append((parent, parent.read()))
    merged = chain[-1][1].without("extends")
    for _, document in reversed(chain[:-1]):
        merged = merged.without("name").merged(document.without("extends"))
    return merged
