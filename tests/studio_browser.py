"""Driving the studio in headless Chromium (Debian's ``chromium`` package) with Playwright.

Playwright's own browser download cannot work here, so the system Chromium is used; where
it (or Playwright) is missing, the browser tests are skipped with a loud message.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import LiveServer, start_server, stop_server

CHROMIUM = os.environ.get("BREATHVOICE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking",
                 "--disable-component-update", "--disable-gpu", "--no-first-run",
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


TESTS_DIR = Path(__file__).resolve().parent
TONE_SERVER = f"""
import sys
sys.path.insert(0, {str(TESTS_DIR)!r})
from tone_hearing import RecordingTone, ToneHearing
from breathvoice.engines.registry import ENGINES
from breathvoice.qa.recognise import RECOGNISERS
engine = RecordingTone()
ENGINES["tone"] = lambda _: engine
RECOGNISERS["tones"] = lambda _: ToneHearing(engine, lambda text, speed: False)
from breathvoice.cli import main
sys.argv = ["breathvoice", "serve"]
main()
"""
"""``breathvoice serve`` on the tests' tone engine: the page's plumbing, without the wait
for a neural voice (voice matching needs the real engine, so it is off here). Job takes are
checked by a recogniser that hears each tone as the text that made it, so the page shows
the server's own QA reports."""


def start_tone_server(root: Path) -> LiveServer:
    return start_server(root / "data", root / "server.log", [sys.executable, "-c", TONE_SERVER],
                        BREATHVOICE_ENGINE="tone", BREATHVOICE_QA_RECOGNISER="tones")


MATCHING_SERVER = {
    "BREATHVOICE_ENROLMENT": "on",
    "BREATHVOICE_ENROLMENT_BUDGET_SECONDS": "5",  # a short search: the bar, then a result
    "BREATHVOICE_ENROLMENT_GRADIENTS": "off",
    "BREATHVOICE_ENROLMENT_GUARD": "off",
    "BREATHVOICE_QA_PRELOAD": "on",  # the recogniser loads while the group is uploaded
}
"""``breathvoice serve`` as shipped (Kokoro, voice matching, job takes checked by the speech
recogniser), with a short matching search and no extra matching steps, to keep it cheap."""


def start_matching_server(root: Path) -> LiveServer:
    return start_server(root / "data", root / "server.log", **MATCHING_SERVER)


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


@contextmanager
def serving(start: Callable[[Path], LiveServer], root: Path) -> Iterator[LiveServer]:
    """A server started by ``start`` in the folder ``root``, stopped at the end (the browser
    tests are skipped first, without a server, where no browser can run)."""
    require_browser()
    live = start(root)
    try:
        yield live
    finally:
        stop_server(live)


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


@pytest.fixture(scope="module", name="server")
def server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A tone-engine server for the module (import this fixture into a test module)."""
    with serving(start_tone_server, tmp_path_factory.mktemp("studio")) as live:
        yield live


@pytest.fixture(name="page")
def page_fixture(browser: Any, server: LiveServer) -> Iterator[tuple[Any, Watched]]:
    """A fresh desktop page on the module's ``server`` and what it did, closed after the test
    (import this fixture into a test module)."""
    page, watched = open_page(browser, server.base_url)
    yield page, watched
    page.context.close()


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


def drop_file(page: Any, selector: str, name: str, data: bytes, mime: str) -> None:
    """Drop a file on the element at ``selector``, as a user dragging it from their desktop."""
    page.evaluate("""([selector, name, b64, mime]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: mime}));
        document.querySelector(selector).dispatchEvent(new DragEvent("drop",
            {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", [selector, name, base64.b64encode(data).decode(), mime])


def wait_line_decided(tab: Any, filename: str, takes: int, timeout: float) -> None:
    """Until the row of ``filename`` is completed with ``takes`` takes, each with a verdict."""
    tab.wait_for_function("""([name, count]) => {
        const row = [...document.querySelectorAll("table.lines tbody tr")]
            .find((r) => r.querySelector("td.file").textContent === name);
        const takes = row ? [...row.querySelectorAll(".takes .take")] : [];
        return row && row.dataset.status === "completed" && takes.length === count
            && takes.every((t) => / · (ok|warn|fail)\\)/.test(t.textContent)); }""",
                          arg=[filename, takes], timeout=timeout * 1000)
