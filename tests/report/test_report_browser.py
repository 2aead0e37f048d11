"""The HTML report in a real browser (headless Chromium): it opens without console
errors, the timeline's step buttons show, for each cycle, the units the trace
engine's own events say are busy, and a GEMM of over 10^5 cycles loads and steps
in under a second. Skips, saying why, where no Chromium can be driven."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from trace_events import busy_at, trace_busy

pytestmark = pytest.mark.usefixtures("browser")


def open_page(browser, path: Path) -> None:
    browser.get(path.resolve().as_uri())
    browser.get_log("browser")  # start each page with an empty log


def shown(browser) -> tuple[int, set[tuple[str, int]]]:
    """The cycle the readout shows and the (unit, step) pairs it lists."""
    from selenium.webdriver.common.by import By

    cycle = int(browser.find_element(By.ID, "tl-cycle").text)
    items = browser.find_elements(By.CSS_SELECTOR, "#tl-busy li[data-lane]")
    return cycle, {(item.get_attribute("data-lane"), int(item.get_attribute("data-step"))) for item in items}


def errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def jump(browser, cycle: int) -> None:
    from selenium.webdriver.common.by import By

    field = browser.find_element(By.ID, "tl-jump")
    field.clear()
    field.send_keys(str(cycle))
    browser.find_element(By.ID, "tl-go").click()


def test_report_opens_without_console_errors(browser, cli, compiled_mlp: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert cli("report", compiled_mlp, "-o", str(out))[0] == 0
    browser.get(out.resolve().as_uri())
    assert browser.title == "mlp on bitmod"
    assert browser.execute_script("return document.querySelectorAll('section').length") == 7
    assert errors(browser) == []


def test_stepping_the_timeline_follows_the_trace(browser, cli, compiled_mlp: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    out = tmp_path / "report.html"
    assert cli("report", compiled_mlp, "-o", str(out), "--gemm", "4x16x64")[0] == 0
    open_page(browser, out)
    _, events = trace_busy("bitmod", (4, 16, 64))
    assert shown(browser) == (0, busy_at(events, 0))
    # cycles 38..44 cross the end of the first DRAM load (cycle 41, `bitsmith trace`): the array starts
    jump(browser, 38)
    assert shown(browser) == (38, busy_at(events, 38))
    for cycle in range(39, 45):
        browser.find_element(By.ID, "tl-next").click()
        assert shown(browser) == (cycle, busy_at(events, cycle))
    assert ("dram_load", 0) in busy_at(events, 40) and ("array", 0) in busy_at(events, 41)
    browser.find_element(By.ID, "tl-prev").click()
    assert shown(browser) == (43, busy_at(events, 43))
    for _ in range(3):
        browser.find_element(By.ID, "tl-zoom-in").click()
    assert shown(browser) == (43, busy_at(events, 43))  # zooming keeps the cursor
    section = browser.find_element(By.ID, "timeline")
    browser.execute_script("arguments[0].scrollIntoView()", section)
    shot = Path(os.environ.get("BITSMITH_SCREENSHOT_DIR", tmp_path)) / "report_timeline.png"
    section.screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert errors(browser) == []


def test_a_long_timeline_loads_and_steps_in_under_a_second(browser, cli, compiled_mlp: str,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "long.html"
    gemm = (128, 512, 512)  # 174,656 cycles on lut_tensor_core, its PE stages switching every few cycles
    assert cli("report", compiled_mlp, "-o", str(out), "-t", "lut_tensor_core", "--gemm", "x".join(map(str, gemm)))[0] == 0
    cycles, events = trace_busy("lut_tensor_core", gemm)
    assert cycles > 10**5
    open_page(browser, out)
    loaded_ms = browser.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd")
    assert loaded_ms < 1000, f"page loaded in {loaded_ms:.0f} ms"
    step_ms = browser.execute_script("""
        const next = document.getElementById('tl-next'), t = performance.now();
        for (let i = 0; i < 20; i++) next.click();
        return (performance.now() - t) / 20;""")
    assert step_ms < 1000 and shown(browser)[0] == 20
    # far into the run, zoomed in to the runs themselves: still exact, still quick
    jump(browser, cycles - 5000)
    zoom_ms = browser.execute_script("""
        const t = performance.now();
        for (let i = 0; i < 10; i++) document.getElementById('tl-zoom-in').click();
        document.getElementById('tl-next').click();
        return performance.now() - t;""")
    assert zoom_ms < 1000
    assert shown(browser) == (cycles - 4999, busy_at(events, cycles - 4999))
    assert errors(browser) == []
