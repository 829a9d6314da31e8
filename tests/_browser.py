"""Browser helpers shared by the dashboard tests (real Chromium through Selenium)."""

from __future__ import annotations

from typing import Any


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
