"""Value names: letters, digits, `_` and `.`, so the text form and the npz sidecar
(which keys arrays by name) can hold any of them unescaped."""

_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def sanitize_name(name: str) -> str:
    """`name` with every other character replaced by `_` (never empty)."""
    cleaned = "".join(ch if ch in _NAME_OK else "_" for ch in name)
    return cleaned or "v"
