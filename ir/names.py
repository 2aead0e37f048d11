"""Value names: letters, digits, `_` and `.`, so the text form and the npz sidecar
(which keys arrays by name) can hold any of them unescaped."""

from collections.abc import Container

_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def sanitize_name(name: str) -> str:
    """`name` with every other character replaced by `_` (never empty)."""
    cleaned = "".join(ch if ch in _NAME_OK else "_" for ch in name)
    return cleaned or "v"


def unique_name(wanted: str, taken: Container[str]) -> str:
    """`wanted` (sanitised), suffixed `_1`, `_2`, ... until it is not in `taken`:
    how the builder and passes that add nodes name them without clashes."""
    name = sanitize_name(wanted)
    if name not in taken:
        return name
    i = 1
    while f"{name}_{i}" in taken:
        i += 1
    return f"{name}_{i}"
