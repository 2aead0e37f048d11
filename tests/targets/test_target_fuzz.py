"""Fuzzing the loader with broken versions of the shipped targets.

Every structural mutation (wrong type, missing field, unknown field, zero or
negative size, bad unit, duplicate key) is invalid by construction, so each must
end in exactly one TargetError line naming the file and the mutated field, never a
silently accepted value or another exception. Garbage bytes and corrupted files
must end in a TargetError too, and the CLI must exit non-zero on them. About 1100
examples in all, a few seconds."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from target_mutations import SHIPPED, Mutation, mutations, one_line_with_duplicate_key

from bitsmith.cli import main
from bitsmith.targets import TargetError, library_dir, list_targets, load_target
from bitsmith.targets.document import dotted

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def rejected(path: Path) -> str:
    """The one-line message `load_target(path)` fails with."""
    with pytest.raises(TargetError) as info:
        load_target(path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{path}:") or message.startswith(f"{path} "), message
    return message


def named_field(mutation: Mutation) -> str:
    """The path the error must name: list positions may be reported on the list."""
    path = mutation.path
    while path and isinstance(path[-1], int):
        path = path[:-1]
    return dotted(path)


@settings(FUZZ, max_examples=700)
@given(mutation=mutations())
def test_every_structural_mutation_is_one_line_naming_file_line_and_field(folder: Path, mutation: Mutation) -> None:
    path = folder / "mutated.yaml"
    path.write_text(mutation.yaml())
    message = rejected(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", message), message
    assert f": {named_field(mutation)}" in message or f" {named_field(mutation)}." in message, (mutation, message)


@settings(FUZZ, max_examples=100)
@given(name=st.sampled_from(sorted(SHIPPED)), line=st.integers(min_value=0, max_value=200))
def test_a_repeated_key_is_an_error_not_a_silent_override(folder: Path, name: str, line: int) -> None:
    text, key = one_line_with_duplicate_key(SHIPPED[name], line)
    path = folder / "duplicate.yaml"
    path.write_text(text)
    message = rejected(path)
    assert re.search(rf":\d+: (\S+\.)?{re.escape(key)}: duplicate key \(first at line \d+\)$", message), message


@settings(FUZZ, max_examples=150)
@given(raw=st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"   \n\t", b"# only a comment\n", b"---\n",
                                                                 b"...\n", b"\xef\xbb\xbf", b"\x00"])))
def test_garbage_bytes_and_empty_files_are_one_line_errors(folder: Path, raw: bytes) -> None:
    path = folder / "garbage.yaml"
    path.write_bytes(raw)
    rejected(path)


@settings(FUZZ, max_examples=150)
@given(name=st.sampled_from(list_targets()), data=st.data())
def test_corrupted_shipped_files_load_or_fail_with_target_error(folder: Path, name: str, data: st.DataObject) -> None:
    raw = library_dir().joinpath(f"{name}.yaml").read_bytes()
    start = data.draw(st.integers(min_value=0, max_value=len(raw)))
    end = data.draw(st.integers(min_value=start, max_value=min(len(raw), start + 40)))
    patch = data.draw(st.binary(max_size=12) | st.sampled_from([b"", b":", b"- ", b"\n  ", b"{", b"&a", b"*a", b"!!",
                                                                 b" 2024-13-45", b" !!float x", b" !!int 0x"]))
    path = folder / f"{name}.yaml"
    path.write_bytes(raw[:start] + patch + raw[end:])
    try:
        load_target(path)  # a harmless change (inside a comment, say) may still load
    except TargetError as err:
        assert "\n" not in str(err)


@settings(FUZZ, max_examples=60)
@given(mutation=mutations())
def test_the_check_command_exits_one_with_one_line(folder: Path, mutation: Mutation) -> None:
    path = folder / "checked.yaml"
    path.write_text(mutation.yaml())
    stderr = io.StringIO()
    argv = ["bitsmith", "targets", "check", str(path)]
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()), \
            pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit) as done:
        patch.setattr(sys, "argv", argv)
        patch.setenv("COLUMNS", "400")
        main()
    assert done.value.code == 1
    lines = stderr.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}:"), stderr.getvalue()
