"""The studio and /docs in a real browser against a live server (headless Chromium).

One server for the module; each test opens its own page and ends with no console error,
no dialog and no request leaving the server (the machine is treated as offline).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import LiveServer, start_server
from studio_browser import (  # noqa: F401 (the *_fixture names are the fixtures)
    DESKTOP,
    PHONE,
    Watched,
    browser_fixture,
    drop_file,
    open_page,
    page_fixture,
    server_fixture,
    serving,
    wait_line_decided,
)
from zips import make_zip, voice_wav

HOSTILE = "<img src=x onerror=alert(1)>"
SCREENSHOTS = os.environ.get("BREATHVOICE_SCREENSHOTS")
UPLOAD_SECONDS = 60
SCREENSHOT_SCRIPT = """filename,text,voice_group_id
Demo_greeting_01.wav,"Hello there, traveller.",Demo
Demo_B1_closer_02.wav,Come a little closer.,Demo
Demo_B3_hit_03.wav,"Ouch, that hurt!",Demo
Demo_impact_04.wav,Take that!,Demo
Demo_B5_05.wav,That was wonderful.,Demo
Demo_B2_sigh_06.wav,"Oh, not again.",Demo
"""


def drop_zip(page: Any, filename: str, data: bytes) -> None:
    drop_file(page, '[aria-label="Drop a voice group zip, or choose one"]', filename, data,
              "application/zip")


def upload_by_drop(page: Any, base_url: str, group: str, data: bytes) -> Any:
    page.goto(f"{base_url}/studio/#/groups")
    page.get_by_role("article", name="Voice group Demo").wait_for()
    drop_zip(page, f"{group}.zip", data)
    page.get_by_text(f"Chosen: {group}.zip").wait_for()
    assert page.get_by_label("Voice group name").first.input_value() == group
    page.get_by_role("button", name="Upload", exact=True).click()
    card = page.locator(f'article[data-group="{group}"]')
    card.wait_for(timeout=UPLOAD_SECONDS * 1000)
    return card


def test_upload_a_zip_by_drag_and_drop(page: tuple[Any, Watched], server: LiveServer) -> None:
    tab, watched = page
    data = make_zip([(f"Dropped_{e}.wav", voice_wav(1.5, seed=i))
                     for i, e in enumerate(["greeting", "B1_B2"])])
    card = upload_by_drop(tab, server.base_url, "Dropped", data)
    assert card.get_by_role("row", name="greeting").is_visible()
    assert "Dropped_B1_B2.wav" in card.inner_text()
    assert "incomplete" in card.inner_text()  # two of the four default emotions
    tab.get_by_text("Voice group “Dropped” saved with 2 clips.").wait_for()
    group = requests.get(f"{server.base_url}/breathvoice/voice-groups/Dropped", timeout=10)
    assert group.json()["available_emotions"] == ["greeting", "B1_B2"]
    # Audition: the clip is fetched and played.
    play = card.get_by_role("button", name="Play the greeting clip of Dropped")
    play.click()
    card.locator("button[data-played='true']").wait_for()
    # Uploading the same name again asks first; cancelling changes nothing.
    drop_zip(tab, "Dropped.zip", data)
    tab.get_by_role("button", name="Upload", exact=True).click()
    tab.get_by_role("dialog").get_by_text("already exists").wait_for()
    tab.get_by_role("button", name="Cancel").click()
    # Delete asks too; confirming removes the group.
    card.get_by_role("button", name="Delete voice group Dropped").click()
    tab.get_by_role("dialog").get_by_role("button", name="Delete").click()
    card.wait_for(state="detached")
    assert "Dropped" not in requests.get(f"{server.base_url}/breathvoice/voice-groups",
                                         timeout=10).json()["voice_groups"]
    watched.assert_clean()


def test_hostile_names_show_as_text(page: tuple[Any, Watched], server: LiveServer) -> None:
    # Group ids and emotions are refused unless plain; clip file names carry the rest.
    tab, watched = page
    names = [f"{HOSTILE}_greeting.wav", '角色 "quoted" it\'s_B1_B2.wav']
    data = make_zip([(name, voice_wav(1.5, seed=i)) for i, name in enumerate(names)])
    card = upload_by_drop(tab, server.base_url, "Hostile", data)
    for name in names:
        card.get_by_text(name, exact=True).wait_for()
    assert card.locator("img").count() == 0
    assert tab.evaluate("document.querySelectorAll('img[src=x]').length") == 0
    watched.assert_clean()


def test_build_a_group_from_one_clip_per_emotion(page: tuple[Any, Watched],
                                                 server: LiveServer) -> None:
    tab, watched = page
    tab.goto(f"{server.base_url}/studio/#/groups")
    form = tab.get_by_role("form", name="From one clip per emotion")
    form.get_by_label("Voice group name").fill("Built")
    form.get_by_label("Another emotion").fill("whisper")
    form.get_by_role("button", name="Add emotion").click()
    for i, emotion in enumerate(["greeting", "whisper"]):
        drop_file(tab, f'[aria-label="Clip for {emotion}"]', f"take {i}.wav",
                  voice_wav(1.5, seed=i), "audio/wav")
        form.get_by_text(f"take {i}.wav").wait_for()
    form.get_by_role("button", name="Build and upload").click()
    card = tab.locator('article[data-group="Built"]')
    card.wait_for(timeout=UPLOAD_SECONDS * 1000)
    details = requests.get(f"{server.base_url}/breathvoice/voice-groups/Built", timeout=10).json()
    assert details["available_emotions"] == ["greeting", "whisper"]
    assert details["emotions"] == ["greeting", "B1_B2", "B3_B4", "B5_orgasm", "whisper"]
    assert details["reference_files"]["whisper"] == "Built_whisper.wav"
    clip = requests.get(f"{server.base_url}/breathvoice/voice-groups/Built/references/whisper",
                        timeout=10)
    assert clip.content == voice_wav(1.5, seed=1)
    watched.assert_clean()


def test_matching_progress_is_live(page: tuple[Any, Watched], server: LiveServer) -> None:
    """While a group is matched the card polls it: a live bar, then the similarity reached.
    (The server runs with matching off, so its answers are replayed with a matching state.)"""
    tab, watched = page
    real = requests.get(f"{server.base_url}/breathvoice/voice-groups/Demo", timeout=10).json()
    states = [{"status": "enrolling", "progress": 0.25, "method": "stock", "similarity": None},
              {"status": "enrolling", "progress": 0.6, "method": "stock", "similarity": None},
              {"status": "ready", "progress": 1.0, "method": "matched", "similarity": 0.912}]
    served: list[int] = []

    def replay(route: Any) -> None:
        state = states[min(len(served), len(states) - 1)]
        served.append(1)
        route.fulfill(json={**real, "enrolment": state})

    tab.route("**/breathvoice/voice-groups/Demo", replay)
    tab.goto(f"{server.base_url}/studio/#/groups")
    card = tab.get_by_role("article", name="Voice group Demo")
    card.get_by_text("Matching the voice to its clips: 25%").wait_for()
    assert card.locator("progress").get_attribute("value") == "25"
    card.get_by_text("Matching the voice to its clips: 60%").wait_for()
    card.get_by_text("Speaks with the matched voice, similarity 0.91").wait_for()
    assert card.locator("progress").count() == 0
    watched.assert_clean()


def test_playground_streams_and_shows_time_to_first_audio(
        page: tuple[Any, Watched], server: LiveServer) -> None:
    tab, watched = page
    tab.goto(f"{server.base_url}/studio/#/playground")
    first = tab.get_by_role("region", name="Speaker 1")
    first.get_by_label("Text for speaker 1").fill("Hello there, this is a streaming test.")
    first.get_by_label("Voice group").select_option("Demo")
    first.get_by_label("Emotion").select_option("greeting")
    tab.get_by_role("button", name="Add a second speaker").click()
    second = tab.get_by_role("region", name="Speaker 2")
    second.get_by_label("Voice group").select_option("Demo")
    first.get_by_role("button", name="Speak").click()
    second.get_by_role("button", name="Speak").click()
    for lane in (first, second):
        stats = lane.locator(".stats[data-done='true']")
        stats.wait_for(timeout=60_000)
        text = stats.inner_text()
        assert "First audio after" in text, text
        assert lane.locator(".stats .error").count() == 0, text
        assert int(stats.get_attribute("data-ttfa")) > 0
        assert int(stats.get_attribute("data-chunks")) >= 1
    # The alignment highlighted characters of the sentence while it played.
    first.locator(".spoken span.now").wait_for(state="attached")
    watched.assert_clean()


def test_every_screen_without_console_errors(page: tuple[Any, Watched],
                                             server: LiveServer) -> None:
    tab, watched = page
    for screen, heading in [("groups", "Voice groups"), ("script", "Script"),
                            ("playground", "Playground"), ("keys", "Keys")]:
        for viewport in (DESKTOP, PHONE):
            tab.set_viewport_size(viewport)
            tab.goto(f"{server.base_url}/studio/#/{screen}")
            tab.get_by_role("heading", name=heading, exact=True).first.wait_for()
            width = tab.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{screen} scrolls sideways at {viewport}"
    # Keyboard: the menu is reachable with Tab.
    tab.keyboard.press("Tab")
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.textContent") == "Voice groups"
    watched.assert_clean()


def test_docs_render_offline(page: tuple[Any, Watched], server: LiveServer) -> None:
    tab, watched = page
    tab.goto(f"{server.base_url}/docs")
    tab.locator(".opblock").first.wait_for()
    assert tab.locator(".opblock").count() > 10
    assert tab.get_by_text("/breathvoice/single-tts").first.is_visible()
    watched.assert_clean()


def test_redoc_renders_offline(page: tuple[Any, Watched], server: LiveServer) -> None:
    tab, watched = page
    tab.goto(f"{server.base_url}/redoc")
    tab.locator("h1", has_text="BreathVOICE").wait_for()
    tab.get_by_role("heading", name="Submit a script").first.wait_for(state="attached")
    assert tab.locator(".api-content h2").count() > 10
    # The page's policy refuses ReDoc's footer logo, the one file it would fetch elsewhere.
    refused = [e for e in watched.console_errors if "cdn.redoc.ly" in e]
    watched.console_errors[:] = [e for e in watched.console_errors if e not in refused]
    watched.assert_clean()


@pytest.mark.screenshots
@pytest.mark.skipif(not SCREENSHOTS, reason="set BREATHVOICE_SCREENSHOTS (make screenshots)")
@pytest.mark.timeout(900)
def test_screenshots(browser: Any, tmp_path: Path) -> None:
    """Writes a picture of each screen to $BREATHVOICE_SCREENSHOTS (docs/images), made on
    the real engine (Kokoro) so they show its stock voices."""
    def start(root: Path) -> LiveServer:
        return start_server(root / "data", root / "server.log", BREATHVOICE_QA_PRELOAD="on")

    with serving(start, tmp_path) as server:
        take_screenshots(browser, server)


def take_screenshots(browser: Any, server: LiveServer) -> None:
    out = Path(str(SCREENSHOTS))
    out.mkdir(parents=True, exist_ok=True)
    tab, watched = open_page(browser, server.base_url)
    tab.goto(f"{server.base_url}/studio/#/groups")
    tab.get_by_role("article", name="Voice group Demo").wait_for()
    tab.screenshot(path=out / "studio-groups.png", full_page=True)
    tab.goto(f"{server.base_url}/studio/#/script")
    tab.get_by_role("heading", name="Script lines").wait_for()
    drop_file(tab, '[aria-label="Drop a script (CSV or TSV), or choose one"]', "script.csv",
              SCREENSHOT_SCRIPT.encode(), "text/csv")
    tab.get_by_label("Job name").fill("Demo pack")
    tab.get_by_role("button", name="Generate all").click()
    tab.locator("p.stats[data-progress='100'][data-status='completed']").wait_for(
        timeout=300_000)  # every take rendered and checked by the speech recogniser
    tab.get_by_role("button", name="Redo Demo_B3_hit_03.wav").click()
    wait_line_decided(tab, "Demo_B3_hit_03.wav", 2, 300)
    verdicts = tab.locator("table.lines .qa strong.badge")
    verdicts.nth(5).wait_for()
    assert verdicts.count() == 6 and tab.locator("table.lines .qa.pending").count() == 0
    tab.get_by_role("button", name="Play Demo_B1_closer_02.wav").click()
    tab.wait_for_function("() => document.querySelector('audio.player').currentTime > 0.3")
    tab.evaluate("document.getElementById('status').hidden = true")
    tab.screenshot(path=out / "studio-script.png", full_page=True)
    tab.goto(f"{server.base_url}/studio/#/playground")
    lane = tab.get_by_role("region", name="Speaker 1")
    lane.get_by_role("button", name="Speak").click()
    lane.locator(".stats[data-done='true']").wait_for(timeout=60_000)
    tab.screenshot(path=out / "studio-playground.png", full_page=True)
    tab.goto(f"{server.base_url}/studio/#/keys")
    tab.get_by_role("heading", name="New key").wait_for()
    tab.screenshot(path=out / "studio-keys.png", full_page=True)
    tab.set_viewport_size(PHONE)
    tab.goto(f"{server.base_url}/studio/#/groups")
    tab.get_by_role("article", name="Voice group Demo").wait_for()
    tab.screenshot(path=out / "studio-groups-phone.png")
    tab.goto(f"{server.base_url}/docs")
    tab.set_viewport_size(DESKTOP)
    tab.locator(".opblock").first.wait_for()
    tab.screenshot(path=out / "docs.png")
    tab.context.close()
    watched.assert_clean()


def test_keys_then_sign_in(page: tuple[Any, Watched], server: LiveServer) -> None:
    """Last in the module: the first key turns sign-in on for the whole server."""
    tab, watched = page
    tab.goto(f"{server.base_url}/studio/#/keys")
    form = tab.get_by_role("form", name="New key")
    form.get_by_label("Name").fill(f"studio {HOSTILE}")
    form.get_by_label("Scope").select_option("admin")
    form.get_by_label("Character quota").fill("5000")
    form.get_by_label("Requests at once").fill("3")
    form.get_by_role("button", name="Create key").click()
    secret = tab.get_by_label("The new key").input_value()
    assert len(secret) > 20
    row = tab.get_by_role("row", name=f"studio {HOSTILE}")
    row.wait_for()
    assert "of 5,000" in row.inner_text() and "admin" in row.inner_text()
    assert requests.get(f"{server.base_url}/breathvoice/voice-groups",
                        timeout=10).status_code == 401
    # Signed in with the new key in this tab; sign out, then back in.
    tab.get_by_role("button", name="Sign out").click()
    tab.get_by_role("heading", name="Sign in").wait_for()
    tab.get_by_label("API key").fill("not-a-key")
    tab.get_by_role("button", name="Sign in").click()
    tab.get_by_role("alert").filter(has_text="Not signed in").wait_for()
    assert all("401" in e for e in watched.console_errors), watched.console_errors
    watched.console_errors.clear()
    tab.get_by_label("API key").fill(secret)
    tab.get_by_role("button", name="Sign in").click()
    tab.get_by_role("article", name="Voice group Demo").wait_for()
    # The socket opens with a single-use token and speaks, charged to the key.
    tab.goto(f"{server.base_url}/studio/#/playground")
    lane = tab.get_by_role("region", name="Speaker 1")
    lane.get_by_label("Text for speaker 1").fill("Signed in.")
    lane.get_by_role("button", name="Speak").click()
    stats = lane.locator(".stats[data-done='true']")
    stats.wait_for(timeout=60_000)
    assert "First audio after" in stats.inner_text()
    tab.goto(f"{server.base_url}/studio/#/keys")
    tab.get_by_role("row", name=f"studio {HOSTILE}").filter(has_text="10 of 5,000").wait_for()
    assert tab.evaluate("sessionStorage.length") == 1
    # A job's progress streams with the key in a header: no URL ever carries it.
    urls: list[str] = []
    tab.on("request", lambda r: urls.append(r.url))
    tab.goto(f"{server.base_url}/studio/#/script")
    tab.get_by_label("Paste lines").fill("keyed_B1.wav,Signed in again.")
    tab.get_by_role("button", name="Add pasted lines").click()
    tab.get_by_role("button", name="Generate all").click()
    tab.locator("p.stats[data-progress='100']").wait_for(timeout=60_000)
    tab.get_by_role("button", name="Play keyed_B1.wav").click()
    tab.wait_for_function("() => document.querySelector('audio.player').currentTime > 0")
    tab.get_by_role("button", name="Redo keyed_B1.wav").click()  # followed on the stream
    tab.get_by_label("Use take 2 of keyed_B1.wav").wait_for()
    assert any(url.endswith("/events") for url in urls)
    assert not any(secret in url for url in urls)
    watched.assert_clean()
