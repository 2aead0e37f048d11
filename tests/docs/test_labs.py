"""The course labs (docs/labs/*.md) run as written, and their answers hold.

A lab's ```python blocks run in order in one namespace; each line `$ bitsmith ...`
of a ```console block runs the CLI and must succeed. Its answers section (the part
after a heading with "Answers") states each answer as a code span
`name = arithmetic`: the arithmetic is the hand derivation in the text (numbers and
operators only, so it cannot quote bitsmith), and `name` is the value the lab's
code got from bitsmith. The two must agree.
"""

from __future__ import annotations

import ast
import math
import re
import shlex
from pathlib import Path

import pytest

LABS = sorted((Path(__file__).parents[2] / "docs" / "labs").glob("[0-9]*.md"))
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
ANSWER = re.compile(r"`(\w+) = ([^`]+)`")
ARITHMETIC = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div,
              ast.FloorDiv, ast.Pow, ast.Mod, ast.USub, ast.UAdd)


def hand_value(expression: str) -> float:
    """`expression` evaluated, after checking it is plain arithmetic on numbers."""
    tree = ast.parse(expression, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, ARITHMETIC) or (isinstance(node, ast.Constant)
                                                and not isinstance(node.value, int | float)):
            raise AssertionError(f"answer {expression!r}: only numbers and + - * / // % ** may appear")
    return eval(compile(tree, "<answer>", "eval"))  # noqa: S307 - checked above: arithmetic only


def answers(text: str) -> list[tuple[str, str]]:
    heading = re.search(r"^#+ .*Answers.*$", text, re.M)
    assert heading, "the lab has no answers section"
    return ANSWER.findall(text[heading.end():])


def test_there_are_labs() -> None:
    assert LABS, "docs/labs holds no lab"


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_lab_runs_and_its_answers_hold(lab: Path, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = lab.read_text()
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"lab_{lab.stem}"}
    for language, code in BLOCK.findall(text):
        if language == "python":
            exec(compile(code, f"{lab.name}", "exec"), namespace)  # noqa: S102 - the lab's own code
        elif language == "console":
            for line in code.splitlines():
                if line.startswith("$ bitsmith "):
                    status, _, err = cli(*shlex.split(line)[2:])
                    assert status == 0, f"{lab.name}: {line}: {err}"
    stated = answers(text)
    assert stated, f"{lab.name}: no answer of the form `name = arithmetic`"
    for name, expression in stated:
        assert name in namespace, f"{lab.name}: the code computes no {name}"
        got, expected = namespace[name], hand_value(expression)
        assert math.isclose(float(got), expected, rel_tol=1e-9), f"{lab.name}: {name} = {got}, by hand {expected}"
    questions = set(re.findall(r"^\*\*Q(\d+)\.\*\*", text, re.M))
    assert questions == set(re.findall(r"^\*\*A(\d+)\.\*\*", text, re.M)), f"{lab.name}: a question lacks its answer"
