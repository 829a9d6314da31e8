"""Helpers shared by the dashboard tests: the real aiohttp app served on 127.0.0.1
(:func:`served`) and real Chromium through Selenium (:func:`chromium`, :func:`submit_login`)."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def served(app: Any, wait_for: str = "/login", timeout_s: float = 30.0) -> Iterator[str]:
    """Serve the aiohttp ``app`` on a free port of 127.0.0.1, on its own event loop in a
    thread; yields the base URL (``http://127.0.0.1:PORT``) once ``wait_for`` answers (at
    most ``timeout_s`` s), and stops the server on exit."""
    from aiohttp import web

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not started.wait(timeout_s):
        raise RuntimeError(f"the test web server did not start in {timeout_s} s")
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(f"{base}{wait_for}", timeout=5).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield base
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextmanager
def chromium(downloads: Path | None = None, page_load_timeout_s: float = 120) -> Iterator[Any]:
    """Debian's headless Chromium driven by Selenium (a 1400x1000 window); files it
    downloads go to ``downloads`` when given. Quits on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--disable-gpu"):  # fmt: skip
        opts.add_argument(arg)
    if downloads is not None:
        opts.add_experimental_option(
            "prefs",
            {"download.default_directory": str(downloads), "download.prompt_for_download": False},
        )
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_page_load_timeout(page_load_timeout_s)
    try:
        yield driver
    finally:
        driver.quit()


def submit_login(driver: Any, base: str, user: str, password: str, timeout_s: float = 30) -> None:
    """Log in through the login form and wait until the browser has left the form's page.

    A click on the submit button does not wait for the POST's answer: a ``driver.get`` right
    after it could load the next page before the session cookie is set and find the login page
    instead (an empty table then "passes" a check for no rows). Waiting for the old form to go
    stale means the answer, with its cookie or its error, has arrived.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    button = driver.find_element(By.CSS_SELECTOR, "form.login button")
    button.click()

    def form_gone(_: Any) -> bool:
        # Selenium's staleness_of catches only StaleElementReferenceException; chromedriver
        # may instead answer "Node with given id does not belong to the document" (a plain
        # WebDriverException) for a node of the page just left: both mean the page changed.
        try:
            button.is_enabled()
        except WebDriverException:
            return True
        return False

    WebDriverWait(driver, timeout_s).until(form_gone)
