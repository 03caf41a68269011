"""The README's picture of `vocalens serve`: the shipped default model answering one video in headless
Chromium (Debian's chromium + chromium-driver), saved as docs/img/serve.png.

  python scripts/serve_screenshot.py demo_out/real_footage/spliced/test/000001.mp4   # the demo's spliced fake
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "serve.png"))
    args = ap.parse_args()
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url = f"http://127.0.0.1:{args.port}"
    data = tempfile.mkdtemp(prefix="vocalens-serve-shot-")  # the job files go here, not into the checkout
    server = subprocess.Popen([sys.executable, "-m", "vocalens", "serve", "--port", str(args.port), "--data_dir", data])
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400"):
            opts.add_argument(flag)
        d = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
        try:
            d.get(url + "/")
            box = d.find_element(By.ID, "file")
            d.execute_script("arguments[0].style.display = 'block';", box)
            box.send_keys(str(Path(args.video).resolve()))
            d.execute_script("arguments[0].style.display = '';", box)
            wait = WebDriverWait(d, 300, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,))
            wait.until(lambda d: d.find_element(By.ID, "verdict").get_attribute("data-verdict"))
            wait.until(
                lambda d: d.execute_script("const p = document.getElementById('player'); return p.readyState >= 3")
            )
            time.sleep(1.5)  # the player's loading spinner fades
            d.save_screenshot(args.out)
            print(f"{d.find_element(By.ID, 'verdict').text.splitlines()[0]}\nwrote {args.out}")
        finally:
            d.quit()
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
