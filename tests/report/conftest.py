"""Fixtures of the report tests: a headless Chromium driven by selenium, when the
machine has one (Debian's `chromium` and `chromium-driver`; `make browser`
installs them where apt can), else the browser tests skip and say why."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest


def _missing() -> str | None:
    """Why no browser can be driven here, or None when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return f"{program} is not on PATH (apt-get install chromium chromium-driver, or `make browser`)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium (selenium WebDriver) that keeps the page's console log."""
    reason = _missing()
    if reason is not None:
        pytest.skip(f"no headless browser: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1400"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def compiled_mlp(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The zoo's mlp compiled for bitmod (int6, groups of 32), saved: a report's input."""
    from bitsmith.compiler import compile_model

    path = tmp_path_factory.mktemp("compiled") / "mlp.json"
    compile_model("mlp", "bitmod", group_size=32).save(path)
    return str(path)

