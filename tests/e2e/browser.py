"""What the browser tests do alike: log in from the console's login page."""

from __future__ import annotations

from typing import Any


def log_in(page: Any, console_url: str, name: str, password: str) -> None:
    """Log `name` in from `console_url`'s login page and wait until the page it lands on is
    ready."""
    page.goto(console_url + "login.html")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#login-button")
    page.wait_for_selector("body[data-ready='true']")


def log_out(page: Any) -> None:
    """Press the console's "Log out" and wait until the login page has loaded (the console
    navigates there itself: a `goto` issued meanwhile would be interrupted)."""
    page.click("#logout")
    page.wait_for_url("**/login.html")
    page.wait_for_load_state("load")
