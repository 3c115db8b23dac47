"""The search page in a real browser: headless Debian Chromium (driven by selenium + chromium-driver) types a
query, waits for the grid and checks the top result and the scores against the library; then zero-shot labels.
Skips with the reason where Chromium or its driver is not installed (.ci/run installs both)."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading

import pytest

import inference

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM or not DRIVER, reason="needs Debian's chromium and chromium-driver "
                       "(apt-get install -y chromium chromium-driver; .ci/run installs them)"),
    pytest.mark.slow,
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1200,900"]


@pytest.fixture(scope="module")
def server(tiny_student_dir, tiny_clip512_pt, tmp_path_factory):
    pytest.importorskip("flask", reason="needs flask (requirements.txt)")
    from werkzeug.serving import make_server

    from inference_api.server import create_app

    model = inference.TurkishCLIP(str(tiny_student_dir), clip=str(tiny_clip512_pt), device="cpu")
    index = model.index(inference.DEMO_IMAGES, index_path=tmp_path_factory.mktemp("idx") / "i.npz", progress=False)
    httpd = make_server("127.0.0.1", 0, create_app(model, index, default_top=5), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield model, index, f"http://127.0.0.1:{httpd.port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("selenium", reason="needs selenium (requirements.txt)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for a driver online
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, css: str, count: int | None = None):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        found = d.find_elements(By.CSS_SELECTOR, css)
        return found if found and (count is None or len(found) == count) else False

    return WebDriverWait(driver, 60).until(ready)


def test_typing_a_query_shows_the_best_matches_with_their_scores(server, browser):
    from selenium.webdriver.common.by import By

    model, index, url = server
    browser.get(url + "/")
    _wait(browser, "body[data-ready=true]")  # /api/info answered: the server's default top is in the box
    box = browser.find_element(By.ID, "query")
    box.send_keys("kumsalda gün batımı")
    browser.find_element(By.ID, "search-button").click()
    cards = _wait(browser, "#grid figure.result", 5)
    expected = index.search(model.encode_text(["kumsalda gün batımı"])[0], 5)
    assert [c.get_attribute("data-path") for c in cards] == [p.name for p, _ in expected]
    shown = [float(c.find_element(By.CSS_SELECTOR, ".score").text) for c in cards]
    assert shown == pytest.approx([s for _, s in expected], abs=1e-4)
    assert shown == sorted(shown, reverse=True)
    assert "kumsalda gün batımı" in browser.find_element(By.ID, "status").text
    # the image really loaded from the server (naturalWidth > 0), and a click enlarges it
    assert browser.execute_script("return arguments[0].querySelector('img').naturalWidth", cards[0]) > 0
    cards[0].click()
    lightbox = browser.find_element(By.ID, "lightbox")
    assert lightbox.is_displayed() and browser.find_element(By.ID, "lightbox-caption").text == expected[0][0].name
    lightbox.click()
    assert not lightbox.is_displayed()
    # a shared link (?q=...) runs its search on load
    browser.get(url + "/?q=bir%20kedi")
    cards = _wait(browser, "#grid figure.result", 5)
    expected = index.search(model.encode_text(["bir kedi"])[0], 5)
    assert [c.get_attribute("data-path") for c in cards] == [p.name for p, _ in expected]


def test_zero_shot_labels_and_a_bad_request_in_the_page(server, browser):
    from selenium.webdriver.common.by import By

    _, index, url = server
    browser.get(url + "/")
    _wait(browser, "body[data-ready=true]")
    browser.find_element(By.ID, "labels").send_keys("kedi, roket, astronot")
    browser.find_element(By.ID, "classify-button").click()
    cards = _wait(browser, "#grid figure.classified", len(index.paths))
    for card in cards:
        percents = [float(p.text.rstrip("%")) for p in card.find_elements(By.CSS_SELECTOR, ".prob")]
        assert len(percents) == 3 and sum(percents) == pytest.approx(100.0, abs=0.3)
    browser.find_element(By.ID, "labels").clear()
    browser.find_element(By.ID, "labels").send_keys("kedi")
    browser.find_element(By.ID, "classify-button").click()
    _wait(browser, "#status.error")
    assert "give at least 2 labels" in browser.find_element(By.ID, "status").text
