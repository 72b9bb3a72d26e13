"""The status page's clients, shared by tests/test_status_page.py (a daemon on this host)
and tests/e2e/test_deploy.py (the deployed daemon in the guest): Debian's Chromium
driven headless through its chromedriver, plain HTTP, and Prometheus' own parser."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="prometheus_client (the device extra) is not installed")
pytest.importorskip("selenium", reason="selenium (the dev extra) is not installed")
from prometheus_client.parser import text_string_to_metric_families
from selenium import webdriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# As root, in a closed network: no sandbox, and no background calls home that the
# network would refuse (see the machine notes); a fresh profile per run.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1300,1000")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def chromium(profile: Path) -> webdriver.Chrome:
    """Headless Chromium with a fresh profile in ``profile``; the caller quits it."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.fail("Debian's chromium and chromium-driver are needed (make test installs them: "
                    "apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    # Both paths given: Selenium never looks for (or downloads) a browser or driver of its own.
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    return driver


def http(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def scrape(url: str) -> Samples:
    """``url``metrics parsed: {(sample name, sorted labels): value}."""
    status, headers, body = http(url + "metrics")
    assert status == 200, body[:200]
    assert headers["Content-Type"].startswith("text/plain; version=")  # the text exposition format
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def latest_reading(browser: webdriver.Chrome, url: str) -> tuple[str, str, str, int]:
    """Open the page and wait for its latest accepted reading: (shown, digits, ts, frame id).
    The page redraws every second, so the fields are read in one go."""
    browser.get(url)
    assert browser.title == "digitcam"
    latest = browser.find_element("id", "latest-text")
    WebDriverWait(browser, 30).until(lambda _: latest.get_attribute("data-frame-id"),
                                     "the page never showed an accepted reading")
    shown, text, ts, frame_id = browser.execute_script(
        "const e = document.getElementById('latest-text');"
        "return [e.textContent, e.dataset.text, e.dataset.ts, Number(e.dataset.frameId)];")
    return shown, text, ts, frame_id


def roi_helper(browser: webdriver.Chrome, url: str) -> WebElement:
    """Open the page, wait for the live picture and the ROI helper's save button; the picture."""
    browser.get(url)
    img = browser.find_element("id", "frame")
    WebDriverWait(browser, 15).until(lambda b: b.execute_script(
        "const i = document.getElementById('frame'); return i.complete && i.naturalWidth;"), "no frame")
    WebDriverWait(browser, 10).until(
        lambda b: b.find_element("id", "roi-save").get_attribute("title").startswith("writes"))
    return img
