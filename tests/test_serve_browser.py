"""vocalens serve in a real browser: Debian's headless Chromium driven by selenium against a live
uvicorn on loopback. Upload a clip (file picker, then drag and drop), wait for the verdict, check the
timeline is drawn and that a click on a segment seeks the player; the page fits a phone's width.
Writes the README screenshot to $VOCALENS_SERVE_SCREENSHOT when set (docs/img/serve.png)."""

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "no system browser: the browser test needs Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver; .ci/run installs them)",
        allow_module_level=True,
    )
pytest.importorskip("selenium", reason="selenium not installed (pip install -e '.[test]')")
pytest.importorskip("uvicorn", reason="vocalens[serve] not installed")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from serve_helpers import live_server, tiny_checkpoint  # noqa: E402

CLIP = "video-retalking__5.mp4"  # 4.9 s of H.264 + AAC, which Chromium plays


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from vocalens.serve.app import Settings, create_app

    tmp = tmp_path_factory.mktemp("serve_browser")
    app = create_app(Settings(checkpoint=str(tiny_checkpoint(tmp / "best.pth")), data_dir=str(tmp / "data")))
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not try to download anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def test_upload_verdict_timeline_and_seek(server, browser, real_clips, tmp_path):
    d = browser
    d.get(server + "/")
    assert d.title.startswith("vocalens")
    file_input = d.find_element(By.ID, "file")
    d.execute_script("arguments[0].style.display = 'block';", file_input)  # the styled label hides it
    file_input.send_keys(str(real_clips / CLIP))
    d.execute_script("arguments[0].style.display = '';", file_input)
    # the page re-renders its job list and result while polling: an element found a moment ago can go
    # stale before it is read, so the waits retry then instead of failing (seen under load)
    wait = WebDriverWait(d, 180, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(lambda d: d.find_element(By.ID, "verdict").get_attribute("data-verdict"))
    job_id = d.execute_script("return JSON.parse(sessionStorage.getItem('vocalens-jobs'))[0].id")
    with urllib.request.urlopen(f"{server}/api/v1/detections/{job_id}") as r:
        result = json.load(r)["result"]
    verdict = d.find_element(By.ID, "verdict")
    assert verdict.get_attribute("data-verdict") == result["verdict"]
    assert verdict.text.startswith(result["verdict"]) and f"p = {result['video_prob']:.3f}" in verdict.text
    assert d.find_element(By.CSS_SELECTOR, "#jobs li .badge").text == result["verdict"]

    canvas = d.find_element(By.ID, "timeline")
    wait.until(lambda d: canvas.get_attribute("data-frames") == str(result["num_frames"]))
    assert canvas.get_attribute("data-segments") == str(len(result["segments_sec"]))
    # the curve is really on the canvas: pixels in the probability line's blue and the segments' red
    blue, red = d.execute_script(
        """
        const c = arguments[0], g = c.getContext('2d'), px = g.getImageData(0, 0, c.width, c.height).data;
        let blue = 0, red = 0;
        for (let i = 0; i < px.length; i += 4) {
          if (px[i + 3] > 200 && px[i + 2] > 150 && px[i] < 90 && px[i + 1] < 130) blue++;
          if (px[i + 3] > 30 && px[i] > px[i + 1] + 40 && px[i] > px[i + 2] + 40) red++;
        }
        return [blue, red];""",
        canvas,
    )
    assert blue > 200 and red > 200, (blue, red)

    rows = d.find_elements(By.CSS_SELECTOR, "#segments tbody tr")
    assert len(rows) == len(result["segments_sec"]) >= 1, "the tiny model's curve should cross its threshold"
    wait.until(lambda d: d.execute_script("return document.getElementById('player').readyState") >= 1)
    k = next(i for i, (s, e, _) in enumerate(result["segments_sec"]) if s > 0.5)  # a seek away from 0
    start = result["segments_sec"][k][0]
    rows[k].click()
    wait.until(lambda d: abs(d.execute_script("return document.getElementById('player').currentTime") - start) < 0.05)
    wait.until(lambda d: abs(float(canvas.get_attribute("data-playhead")) - start) < 0.05)
    assert "playing" in rows[k].get_attribute("class")

    shot = tmp_path / "serve.png"
    d.set_window_size(1280, 1400)
    d.execute_script("window.scrollTo(0, 0)")
    wait.until(
        lambda d: d.execute_script(
            "const p = document.getElementById('player'); return p.readyState >= 3 && !p.seeking"
        )
    )
    if os.environ.get("VOCALENS_SERVE_SCREENSHOT"):
        time.sleep(1.5)  # let the player's loading spinner fade for the README picture
    d.save_screenshot(str(shot))
    d.set_window_size(1280, 1000)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("VOCALENS_SERVE_SCREENSHOT"):
        shutil.copy(shot, Path(os.environ["VOCALENS_SERVE_SCREENSHOT"]))

    # drag and drop: a File in a DataTransfer dropped on the drop zone uploads it like the picker
    d.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0]).then((r) => r.blob()).then((b) => {
          const dt = new DataTransfer();
          dt.items.add(new File([b], 'dropped.mp4', {type: 'video/mp4'}));
          document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
          done();
        });""",
        f"/api/v1/detections/{job_id}/video",
    )
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#jobs li .name").text == "dropped.mp4")
    wait.until(
        lambda d: (
            "dropped.mp4" in d.find_element(By.ID, "verdict").text
            and d.find_element(By.ID, "verdict").get_attribute("data-verdict") == result["verdict"]
        )
    )
    assert len(d.find_elements(By.CSS_SELECTOR, "#jobs li")) == 2


def test_page_fits_a_phone(server, browser):
    d = browser
    d.set_window_size(390, 844)
    try:
        d.get(server + "/")
        WebDriverWait(d, 30).until(lambda d: d.find_element(By.ID, "drop").is_displayed())
        if d.execute_script("return (JSON.parse(sessionStorage.getItem('vocalens-jobs')) || []).length"):
            WebDriverWait(d, 60).until(lambda d: d.find_element(By.ID, "details").is_displayed())  # a result too
        wide = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"the page is {wide} px wider than a phone's screen"
    finally:
        d.set_window_size(1280, 1000)
