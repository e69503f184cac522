"""Driving the studio in headless Chromium (Debian's ``chromium`` package) with Playwright.

Playwright's own browser download cannot work here, so the system Chromium is used; where
it (or Playwright) is missing, the browser tests are skipped with a loud message.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("BREATHVOICE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking",
                 "--disable-component-update", "--disable-gpu", "--no-first-run",
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return (f"no Chromium at {CHROMIUM}: install Debian's package "
                "(apt-get install -y chromium; `make test` does it as root)")
    return None


def require_browser() -> None:
    reason = skip_reason()
    if reason:
        message = f"BROWSER TESTS SKIPPED: {reason}"
        warnings.warn(message, stacklevel=2)
        print(f"\n{'!' * 72}\n{message}\n{'!' * 72}")
        pytest.skip(message)


@dataclass
class Watched:
    """What a page did that a user would notice: console errors, dialogs, outside requests."""

    base_url: str
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.console_errors == [], self.console_errors
        assert self.dialogs == [], self.dialogs
        assert self.outside_requests == [], self.outside_requests


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Any]:
    """Headless Chromium for the module (import this fixture into a test module)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Any, base_url: str, viewport: dict[str, int] = DESKTOP
              ) -> tuple[Any, Watched]:
    """A fresh page whose console errors, dialogs and off-server requests are recorded
    (off-server requests are also refused: the machine is treated as offline)."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    watched = Watched(base_url)
    own = urlsplit(base_url).netloc

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc in (own, "") or r.request.url.startswith(
                ("data:", "blob:")):
            r.continue_()
        else:
            watched.outside_requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and watched.console_errors.append(m.text))
    page.on("pageerror", lambda e: watched.console_errors.append(str(e)))

    def dialog(d: Any) -> None:
        watched.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    return page, watched
