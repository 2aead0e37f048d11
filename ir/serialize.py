"""Saving and loading graphs: a JSON file for the structure, an `.npz` sidecar for arrays.

Two files because they serve different readers: the JSON is small, readable and
diffable (one line per node), while weights stay in numpy's own format so
`np.load` reads them without bitsmith.

Sidecar rule: the sidecar of `out.json` is `out.npz`, the JSON path with its last
suffix replaced by `.npz` (`model` -> `model.npz`). It exists only when some
constant has data; saving a graph without data removes the sidecar an earlier save
left under that name, so a JSON never sits beside arrays it does not describe. No
other file is touched.

Both files are deterministic (same graph, same bytes) and each is written to a
temporary file in its directory, then renamed over the target, so an interrupted
save never leaves half a file. Two renames are not one atomic step, so the JSON
records the sidecar's SHA-256 and `load` refuses a pair that does not belong together.

Schema, version 1 (`value` = `{"name", "shape", "dtype", "layout"}`):

    {"format": "bitsmith-ir", "version": 1,
     "sidecar": null | {"sha256": hex digest of the .npz},
     "graph": {"name": str,
               "inputs": [value],
               "constants": [value + {"origin": str, "data": npz key | null,
                                      optional "quant": quant}],
               "nodes": [{"op": str, "inputs": [str], "output": value, "attrs": {str: attr}}],
               "outputs": [str]}}

A `quant` (a quantised weight, `QuantSpec`) is `{"scheme", "shape", "axis",
"granularity", "group_size", "formats", "scale_rule", "asymmetric", "scale_bits",
"outlier_format", "arrays": {field: npz key}}`; its arrays are stored under the
keys `<constant>:<field>` (`:` never occurs in a value name), and its constant's
`data` is null because the values are derived from the spec. A shape-only spec has
`"arrays": {}`. The field is left out for unquantised constants.

An `attr` is an int, float, bool, string or null; a list stands for a tuple; the
object `{"$float": "inf" | "-inf" | "nan"}` carries what strict JSON cannot. Floats
are written with Python's repr, so they round-trip exactly and `1.0` stays distinct
from `1`. The npz key of a constant is its name; bf16 arrays are stored as their
uint16 bit patterns (a .npy header cannot name bfloat16), and the JSON dtype says
how to view them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np

from bitsmith.ir import dtypes
from bitsmith.ir.errors import BitsmithError, GraphFormatError, VerifyError
from bitsmith.ir.formats.spec import ARRAY_FIELDS, QuantSpec
from bitsmith.ir.graph import CONSTANT_ORIGINS, AttrValue, Constant, Graph, Node, Value
from bitsmith.ir.ops import op_by_name
from bitsmith.ir.types import TensorType

T = TypeVar("T")

FORMAT = "bitsmith-ir"
VERSION = 1
# dtypes numpy's .npy header cannot name, stored as these bit-pattern dtypes instead.
_STORED_AS = {"bf16": np.dtype(np.uint16)}
# Fixed zip entry metadata: np.savez would stamp the current time and host system.
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_ZIP_UNIX_SYSTEM = 3
_ZIP_MODE = 0o644 << 16
_NON_FINITE = ("inf", "-inf", "nan")
# Containers this deep are written on one line: one line per input, constant and node.
_INLINE_DEPTH = 3

_VALUE_KEYS = ("name", "shape", "dtype", "layout")
_CONSTANT_KEYS = _VALUE_KEYS + ("origin", "data")
_QUANT_KEYS = ("scheme", "shape", "axis", "granularity", "group_size", "formats", "scale_rule",
               "asymmetric", "scale_bits", "outlier_format", "arrays")
_NODE_KEYS = ("op", "inputs", "output", "attrs")
_GRAPH_KEYS = ("name", "inputs", "constants", "nodes", "outputs")
_TOP_KEYS = ("format", "version", "sidecar", "graph")


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Where the arrays of the graph saved at `path` live (see the module docstring)."""
    return Path(path).with_suffix(".npz")


# --- saving ------------------------------------------------------------------------


def save(graph: Graph, path: str | os.PathLike[str]) -> None:
    """Write `graph` to `path` (JSON) and its constant data to the sidecar.

    The graph is verified first, so nothing is written that `load` would reject.
    """
    path = Path(path)
    sidecar = sidecar_path(path)
    if sidecar == path:
        raise ValueError(f"{path}: a graph file cannot end in .npz, the suffix of its sidecar")
    graph.verify()
    arrays = {}
    for const in graph.constants:
        if const.quant is not None:
            arrays.update((f"{const.name}:{k}", a) for k, a in const.quant.arrays().items())
        elif const.data is not None:
            arrays[const.name] = _stored_array(const)
    digest = None
    if arrays:
        with _atomic_write(sidecar) as stream:
            _write_npz(stream, arrays)
            stream.seek(0)
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
    with _atomic_write(path) as stream:
        stream.write((_render(_document(graph, digest)) + "\n").encode("ascii"))
    if not arrays:
        sidecar.unlink(missing_ok=True)


@contextmanager
def _atomic_write(path: Path) -> Iterator[IO[bytes]]:
    """A stream whose bytes replace `path` only once the block ends without error."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # os.open with mode 0o666 lets the umask decide permissions, as a plain open would.
    fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "w+b") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _stored_array(const: Constant) -> np.ndarray:
    storage = _STORED_AS.get(const.type.dtype.name)
    return const.data if storage is None else const.data.view(storage)


def _write_npz(stream: IO[bytes], arrays: dict[str, np.ndarray]) -> None:
    """An npz archive `np.load` reads, with no timestamps, so equal arrays give equal bytes."""
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE_TIME)
            info.create_system = _ZIP_UNIX_SYSTEM
            info.external_attr = _ZIP_MODE
            # force_zip64 as np.savez does: the size is unknown when the entry opens.
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _document(graph: Graph, sidecar_sha256: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "sidecar": None if sidecar_sha256 is None else {"sha256": sidecar_sha256},
        "graph": {
            "name": graph.name,
            "inputs": [_value_record(v) for v in graph.inputs],
            "constants": [_constant_record(c) for c in graph.constants],
            "nodes": [_node_record(n) for n in graph.nodes],
            "outputs": list(graph.outputs),
        },
    }


def _value_record(value: Value) -> dict[str, Any]:
    t = value.type
    return {"name": value.name, "shape": list(t.shape), "dtype": t.dtype.name, "layout": t.layout}


def _constant_record(const: Constant) -> dict[str, Any]:
    if const.quant is None:
        data_key = None if const.data is None else const.name
        return _value_record(const.value) | {"origin": const.origin, "data": data_key}
    spec = const.quant
    quant = {k: list(v) if isinstance(v, tuple) else v for k, v in spec.metadata().items()}
    quant["arrays"] = {k: f"{const.name}:{k}" for k in spec.arrays()}
    return _value_record(const.value) | {"origin": const.origin, "data": None, "quant": quant}


def _node_record(node: Node) -> dict[str, Any]:
    attrs = {k: _encode_attr(v, f"node %{node.name} attribute {k!r}") for k, v in node.attrs.items()}
    return {"op": node.op.value, "inputs": list(node.inputs), "output": _value_record(node.output), "attrs": attrs}


def _encode_attr(value: AttrValue, where: str) -> Any:
    if isinstance(value, tuple):
        return [_encode_attr(v, where) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{where}: cannot save a value of type {type(value).__name__} (the format has no encoding for it)")


def _render(obj: Any, depth: int = 0) -> str:
    """JSON with the outer levels spread over lines and deeper ones kept on one line."""
    if depth == _INLINE_DEPTH or not isinstance(obj, (dict, list)) or not obj:
        return json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(", ", ": "))
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=True)}: {_render(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [f"{inner}{_render(v, depth + 1)}" for v in obj]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


# --- loading -----------------------------------------------------------------------


def load(path: str | os.PathLike[str]) -> Graph:
    """Read a graph written by `save` and verify it.

    Raises a one-line GraphFormatError naming the file (and the field) when the
    files are missing, corrupt or of another version, and VerifyError, prefixed with
    the file name, when they hold a graph that breaks an IR rule.
    """
    loader = _Loader(Path(path))
    try:
        graph = loader.graph()
    finally:
        loader.close()
    try:
        return graph.verify()
    except VerifyError as err:
        raise VerifyError(f"{os.fspath(path)}: {err}") from err


# What each JSON kind is called in messages; bool before int, as bool subclasses int.
_KIND_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "an object"}


def _json_kind(obj: Any) -> str:
    return next((name for kind, name in _KIND_NAMES.items() if isinstance(obj, kind)), "null")


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        repeated = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
        raise ValueError(f"duplicate key {repeated!r}")
    return obj


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not strict JSON")


class _Loader:
    """Reads one saved graph; every failure names the file and the field at fault."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sidecar = sidecar_path(path)
        self.sidecar_sha256: str | None = None
        self._npz: Any = None  # the opened sidecar (np.lib.npyio.NpzFile), on first use

    def fail(self, where: str, message: str) -> GraphFormatError:
        prefix = f"{self.path}: {where}: " if where else f"{self.path}: "
        return GraphFormatError(_one_line(prefix + message))

    def close(self) -> None:
        if self._npz is not None:
            self._npz.close()

    # --- the document ---------------------------------------------------------------
    def graph(self) -> Graph:
        doc = self._read_json()
        self._check_header(doc)
        self.record(doc, "", _TOP_KEYS)
        if doc["sidecar"] is not None:
            sidecar = self.record(doc["sidecar"], "sidecar", ("sha256",))
            self.sidecar_sha256 = self.typed(sidecar["sha256"], "sidecar.sha256", str)
        rec = self.record(doc["graph"], "graph", _GRAPH_KEYS)
        return Graph(
            self.typed(rec["name"], "graph.name", str),
            self.each(rec["inputs"], "graph.inputs", self.value),
            self.each(rec["constants"], "graph.constants", self.constant),
            self.each(rec["nodes"], "graph.nodes", self.node),
            tuple(self.list_of(rec["outputs"], "graph.outputs", str)),
        )

    def _read_json(self) -> Any:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise self.fail("", "no such file") from None
        except OSError as err:
            raise self.fail("", f"cannot read: {err.strerror}") from None
        try:
            return json.loads(raw, object_pairs_hook=_strict_object, parse_constant=_reject_constant)
        except json.JSONDecodeError as err:
            where = f"line {err.lineno}, column {err.colno}"
            raise self.fail("", f"not valid JSON (truncated or corrupt?): {err.msg} ({where})") from None
        except UnicodeDecodeError as err:
            byte = err.object[err.start]
            raise self.fail("", f"not valid JSON: byte {byte:#04x} at offset {err.start} is not text") from None
        except ValueError as err:
            raise self.fail("", f"not valid JSON: {err}") from None

    def _check_header(self, doc: Any) -> None:
        """Check format and version before anything else, so a foreign JSON file or a
        newer save is reported as such rather than as a missing field."""
        found = doc.get("format") if isinstance(doc, dict) else None
        if found != FORMAT:
            raise self.fail("format", f"not a bitsmith IR file (format is {found!r}, expected {FORMAT!r})")
        version = doc.get("version")
        if type(version) is not int or version != VERSION:
            raise self.fail("version", f"unsupported version {version!r}; this bitsmith reads version {VERSION}")

    # --- typed fields ---------------------------------------------------------------
    def record(self, obj: Any, where: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
        """`obj` as an object with exactly the fields `keys`, and any of `optional`."""
        self.typed(obj, where, dict)
        missing = [k for k in keys if k not in obj]
        if missing:
            raise self.fail(where, f"missing field {missing[0]!r}")
        unknown = sorted(set(obj) - set(keys) - set(optional))
        if unknown:
            raise self.fail(where, f"unknown field {unknown[0]!r}")
        return obj

    def typed(self, obj: Any, where: str, kind: type) -> Any:
        if not isinstance(obj, kind) or (isinstance(obj, bool) and kind is not bool):
            raise self.fail(where, f"expected {_KIND_NAMES[kind]}, got {_json_kind(obj)}")
        return obj

    def each(self, obj: Any, where: str, parse: Callable[[Any, str], T]) -> tuple[T, ...]:
        """`parse` applied to each item of the list `obj`, each told its own field path."""
        return tuple(parse(item, f"{where}[{i}]") for i, item in enumerate(self.typed(obj, where, list)))

    def list_of(self, obj: Any, where: str, kind: type) -> list[Any]:
        return [self.typed(v, f"{where}[{i}]", kind) for i, v in enumerate(self.typed(obj, where, list))]

    def tensor_type(self, rec: dict[str, Any], where: str) -> TensorType:
        shape = self.list_of(rec["shape"], f"{where}.shape", int)
        name = self.typed(rec["dtype"], f"{where}.dtype", str)
        try:
            dtype = dtypes.dtype(name)
        except KeyError as err:
            raise self.fail(f"{where}.dtype", err.args[0]) from None
        return TensorType(tuple(shape), dtype, self.typed(rec["layout"], f"{where}.layout", str))

    def value(self, obj: Any, where: str) -> Value:
        rec = self.record(obj, where, _VALUE_KEYS)
        return Value(self.typed(rec["name"], f"{where}.name", str), self.tensor_type(rec, where))

    def constant(self, obj: Any, where: str) -> Constant:
        rec = self.record(obj, where, _CONSTANT_KEYS, optional=("quant",))
        value = Value(self.typed(rec["name"], f"{where}.name", str), self.tensor_type(rec, where))
        origin = self.typed(rec["origin"], f"{where}.origin", str)
        if origin not in CONSTANT_ORIGINS:
            raise self.fail(f"{where}.origin", f"unknown origin {origin!r}; valid: {', '.join(CONSTANT_ORIGINS)}")
        key = rec["data"]
        quant = None if rec.get("quant") is None else self.quant_spec(rec["quant"], f"{where}.quant")
        if quant is not None and key is not None:
            raise self.fail(f"{where}.data", "must be null for a quantised constant (its values come from quant)")
        data = None if key is None else self.array(self.typed(key, f"{where}.data", str), value.type, f"{where}.data")
        try:
            return Constant(value, data, origin, quant)
        except ValueError as err:
            raise self.fail(where, str(err)) from None

    def quant_spec(self, obj: Any, where: str) -> QuantSpec:
        rec = self.record(obj, where, _QUANT_KEYS)
        fields: dict[str, Any] = {
            "scheme": self.typed(rec["scheme"], f"{where}.scheme", str),
            "shape": tuple(self.list_of(rec["shape"], f"{where}.shape", int)),
            "axis": self.typed(rec["axis"], f"{where}.axis", int),
            "granularity": self.typed(rec["granularity"], f"{where}.granularity", str),
            "group_size": self.optional(rec["group_size"], f"{where}.group_size", int),
            "formats": tuple(self.list_of(rec["formats"], f"{where}.formats", str)),
            "scale_rule": self.typed(rec["scale_rule"], f"{where}.scale_rule", str),
            "asymmetric": self.typed(rec["asymmetric"], f"{where}.asymmetric", bool),
            "scale_bits": self.optional(rec["scale_bits"], f"{where}.scale_bits", int),
            "outlier_format": self.optional(rec["outlier_format"], f"{where}.outlier_format", str),
        }
        arrays = self.typed(rec["arrays"], f"{where}.arrays", dict)
        for name, key in arrays.items():
            if name not in ARRAY_FIELDS:
                raise self.fail(f"{where}.arrays", f"unknown array {name!r}; valid: {', '.join(ARRAY_FIELDS)}")
            fields[name] = self.raw_array(self.typed(key, f"{where}.arrays.{name}", str), ARRAY_FIELDS[name],
                                          f"{where}.arrays.{name}")
        try:
            return QuantSpec(**fields)
        except (ValueError, BitsmithError) as err:
            raise self.fail(where, str(err)) from None

    def optional(self, obj: Any, where: str, kind: type) -> Any:
        return None if obj is None else self.typed(obj, where, kind)

    def node(self, obj: Any, where: str) -> Node:
        rec = self.record(obj, where, _NODE_KEYS)
        name = self.typed(rec["op"], f"{where}.op", str)
        try:
            op = op_by_name(name)
        except KeyError as err:
            raise self.fail(f"{where}.op", err.args[0]) from None
        attrs = self.typed(rec["attrs"], f"{where}.attrs", dict)
        return Node(
            op,
            tuple(self.list_of(rec["inputs"], f"{where}.inputs", str)),
            self.value(rec["output"], f"{where}.output"),
            {k: self.attr(v, f"{where}.attrs.{k}") for k, v in attrs.items()},
        )

    def attr(self, obj: Any, where: str) -> AttrValue:
        if isinstance(obj, list):
            return tuple(self.attr(v, f"{where}[{i}]") for i, v in enumerate(obj))
        if not isinstance(obj, dict):
            return obj  # the JSON scalars (int, float, bool, str, null) are all attributes
        tag = obj.get("$float")
        if obj.keys() == {"$float"} and tag in _NON_FINITE:
            return float(tag)
        raise self.fail(where, f"expected {{\"$float\": \"inf\"|\"-inf\"|\"nan\"}}, got {json.dumps(obj)[:80]}")

    # --- the sidecar ----------------------------------------------------------------
    def raw_array(self, key: str, dtype: np.dtype | None, where: str) -> np.ndarray:
        """The array `key` from the sidecar; of `dtype` when one is given."""
        npz = self._open_sidecar(where)
        if key not in npz.files:
            raise self.fail(where, f"no array {key!r} in {self.sidecar}")
        try:
            stored = npz[key]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise self.fail(where, f"array {key!r} in {self.sidecar} is corrupt: {err}") from None
        if dtype is not None and stored.dtype != dtype:
            raise self.fail(where, f"array {key!r} in {self.sidecar} is {stored.dtype}, expected {dtype}")
        return stored

    def array(self, key: str, declared: TensorType, where: str) -> np.ndarray:
        """The array `key` from the sidecar, checked against the type the JSON declares."""
        stored = self.raw_array(key, None, where)
        dtype = declared.dtype.to_numpy()
        expected = _STORED_AS.get(declared.dtype.name, dtype)
        if stored.dtype != expected or stored.shape != declared.shape:
            found = f"{stored.dtype}[{','.join(map(str, stored.shape))}]"
            raise self.fail(where, f"array {key!r} in {self.sidecar} is {found} but the JSON says {declared}")
        return stored if expected == dtype else stored.view(dtype)

    def _open_sidecar(self, where: str) -> Any:
        if self._npz is not None:
            return self._npz
        if self.sidecar_sha256 is None:
            raise self.fail(where, "names an array but the file records no sidecar")
        try:
            with self.sidecar.open("rb") as stream:
                digest = hashlib.file_digest(stream, "sha256").hexdigest()
        except FileNotFoundError:
            raise self.fail("sidecar", f"{self.sidecar} is missing") from None
        except OSError as err:
            raise self.fail("sidecar", f"cannot read {self.sidecar}: {err.strerror}") from None
        if digest != self.sidecar_sha256:
            raise self.fail("sidecar", f"{self.sidecar} does not match this file (SHA-256 differs): "
                                       "corrupt, or written by another save")
        try:
            npz = np.load(self.sidecar, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise self.fail("sidecar", f"{self.sidecar} is not a readable npz archive: {err}") from None
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise self.fail("sidecar", f"{self.sidecar} holds a single array, not an npz archive")
        self._npz = npz
        return npz
