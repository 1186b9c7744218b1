"""Drive the demo app (``zoo app``) in headless Chromium, as a person would: for its browser test and benchmark.

Uses Selenium with the system's Chromium and ChromeDriver (Debian: ``apt-get install chromium chromium-driver``),
never a browser that downloads itself. ``serve`` starts the app in a subprocess on a free loopback port.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the checkout
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)
CHROMEDRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver")
                                                  else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(timeout: float = 120, python: str = sys.executable, cwd: str | os.PathLike = ROOT,
          env: dict[str, str] | None = None):
    """Run ``zoo app`` on a free loopback port, given as Gradio's GRADIO_SERVER_PORT (as Hugging Face
    Spaces gives it); yields its URL; stops it afterwards. By default from this checkout, offline; ``python``,
    ``cwd`` and ``env`` run another installation (tests/test_wheel.py)."""
    port = free_port()
    env = {**(env if env is not None else {**os.environ, "HF_HUB_OFFLINE": "1"}), "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    # its output goes to a file, not a pipe: nobody reads a pipe while the app runs, and once the pipe's buffer is
    # full (a few dozen logged tracebacks of refused requests) the app blocks on its next write
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen([str(python), "-m", "zoo.cli", "app"], cwd=cwd, env=env,
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"zoo app exited with {process.returncode}:\n{log.read()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"zoo app did not answer on {url} within {timeout:.0f} s")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def chromium(width: int = 1280, height: int = 1000):
    """A headless Chromium driven by Selenium (flags that keep it off the network and out of the sandbox)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if CHROMIUM is None or CHROMEDRIVER is None:
        raise FileNotFoundError("no Chromium/ChromeDriver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def shown_predictions(driver) -> dict:
    """What the page shows now: {"angle": float, "predictions": {preset: (class, probability)}}."""
    from selenium.webdriver.common.by import By

    table = driver.find_element(By.CSS_SELECTOR, "#predictions")
    rows = table.find_elements(By.CSS_SELECTOR, "tr[data-preset]")
    return {"angle": float(table.get_attribute("data-angle")),
            "predictions": {r.get_attribute("data-preset"): (int(r.get_attribute("data-class")),
                                                             float(r.get_attribute("data-probability")))
                            for r in rows}}


def wait_for(driver, condition, timeout: float = 30, poll: float = 0.005):
    """Poll ``condition(driver)`` until it returns something truthy; returns it (TimeoutError otherwise)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition(driver)
        except Exception:  # the element is being replaced by the page: try again
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not reach the expected state")
        time.sleep(poll)


def pick_example(driver, label: str) -> None:
    from selenium.webdriver.common.by import By

    for option in driver.find_elements(By.CSS_SELECTOR, "#example label"):
        if option.text.strip() == label:
            option.click()
            return
    raise ValueError(f"no example {label!r} on the page")


def set_angle(driver, degrees: float) -> float:
    """Type an angle into the slider's number box as a person would; returns the seconds until the table shows it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, "#angle input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    start = time.perf_counter()
    box.send_keys(f"{degrees:g}", Keys.ENTER)
    wait_for(driver, lambda d: shown_predictions(d)["angle"] == degrees)
    return time.perf_counter() - start
