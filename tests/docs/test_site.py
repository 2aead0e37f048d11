"""The documentation site: its generated reference pages match the code, and
`mkdocs build --strict` builds it without a warning (broken links included)."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

from bitsmith.docs_gen import reference_pages

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("name", sorted(reference_pages()))
def test_generated_reference_is_current(name: str, tmp_path: Path) -> None:
    from bitsmith.docs_gen import main

    main(["--out", str(tmp_path)])
    committed = ROOT / "docs" / "reference" / name
    assert committed.exists(), f"docs/reference/{name} is missing: run `python -m bitsmith.docs_gen` (or `make docs`)"
    fresh, old = (tmp_path / name).read_text(), committed.read_text()
    diff = "".join(difflib.unified_diff(old.splitlines(True), fresh.splitlines(True), f"docs/reference/{name}",
                                        "generated", n=1))
    assert fresh == old, (f"docs/reference/{name} is out of date with the code: run `python -m bitsmith.docs_gen` "
                          f"(or `make docs`) and commit the result\n{diff[:3000]}")


def test_site_builds_strictly_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[dev]')")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    site = tmp_path / "site"
    for page in ("index.html", "labs/05_dse/index.html", "reference/cli/index.html", "concepts/ir/index.html"):
        assert (site / page).is_file(), page
    assert (site / "report_timeline.png").is_file()  # the image index.md and README show
    assert "bitsmith explore" in (site / "reference" / "cli" / "index.html").read_text()
