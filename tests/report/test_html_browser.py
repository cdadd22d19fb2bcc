"""report.html and comparison.html in real headless Chromium: they render, every image loads, no console errors.

Needs Debian's chromium and chromium-driver (``.ci/run`` installs them); the test fails, never skips, without
them. Screenshots are written to ``test-artifacts/``.
"""

import shutil
from pathlib import Path

import pytest

from judgescope.report.demo import run_demo

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    run_demo(out, quick=True, progress=False)
    return out


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "install Debian's chromium and chromium-driver (see README)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--window-size=1200,2400"):  # fmt: skip
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    yield driver
    driver.quit()


def _check_page(browser, path: Path, shot: str, min_images: int):
    browser.get(path.resolve().as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
    )
    assert len(images) >= min_images
    broken = [alt for alt, complete, width in images if not complete or width == 0]
    assert not broken, f"images that did not load: {broken}"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    # Self-contained: nothing is fetched from anywhere else.
    sources = browser.execute_script(
        "return Array.from(document.querySelectorAll('[src],[href]')).map(e => e.src || e.href)"
    )
    assert all(s.startswith("data:") for s in sources), sources
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / shot))
    return browser.find_element("tag name", "h1").text


def test_report_html_renders(browser, demo):
    title = _check_page(browser, demo / "runs" / "base" / "report.html", "report.png", min_images=4)
    assert "judgescope report" in title
    text = browser.find_element("tag name", "body").text
    assert "Paper-style table" in text and "source share" in text


def test_comparison_html_renders(browser, demo):
    cmp = demo / "compare" / "comparison.html"
    assert cmp.exists(), "the demo compares the judge with its planted variants"
    title = _check_page(browser, cmp, "comparison.png", min_images=2)
    assert "comparison" in title
