"""The studio's Script screen in a real browser against live servers.

The issue's whole journey runs on the server as shipped (Kokoro, voice matching on, takes
checked by the speech recogniser): drop a voice group zip, see it appear and start matching,
drop a 6-line CSV, generate, watch progress reach 100 %, play a line, redo one and choose
the new take, export the pack; then close the tab, find the job again, and see the group
matched. The other tests run on the fast tone engine. Each test ends with no console error,
no dialog and no request leaving the server.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import LiveServer
from studio_browser import (  # noqa: F401 (the *_fixture names are the fixtures)
    PHONE,
    Watched,
    browser_fixture,
    drop_file,
    open_page,
    page_fixture,
    server_fixture,
    serving,
    start_matching_server,
    wait_line_decided,
)
from zips import make_zip, voice_wav

HOSTILE_FILE = '<script>alert(1)<script> "角色" it\'s_B2.wav'
HOSTILE_TEXT = '<img src=x onerror=alert(1)> "Quoted", it\'s fine.'
UPLOAD_SECONDS = 120
JOB_SECONDS = 300
MATCHING_SECONDS = 180
SCRIPT = [  # filename, text, the emotion the server's rules pick
    ("Hero_greeting_01.wav", "Hello there, traveller.", "greeting"),
    ("Hero_B1_02.wav", "Come a little closer.", "B1_B2"),
    ("Hero_B3_03.wav", "Ouch, that hurt!", "B3_B4"),
    ("Hero_impact_04.wav", "Take that!", "B3_B4"),
    ("Hero_B5_05.wav", "That was wonderful.", "B5_orgasm"),
    (HOSTILE_FILE, HOSTILE_TEXT, "B1_B2"),
]
SCRIPT_DROP = '[aria-label="Drop a script (CSV or TSV), or choose one"]'


def csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


SCRIPT_CSV = ("filename,text,voice_group_id\n" + "".join(
    f"{csv_cell(f)},{csv_cell(t)},Hero\n" for f, t, _ in SCRIPT)).encode()


@pytest.fixture(scope="module")
def matching_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(start_matching_server, tmp_path_factory.mktemp("studio-journey")) as live:
        yield live


def lines_of(server: LiveServer, job_id: str) -> dict[str, dict[str, Any]]:
    body = requests.get(f"{server.base_url}/breathvoice/jobs/{job_id}/lines", timeout=10).json()
    return {line["filename"]: line for line in body["lines"]}


def picked(tab: Any, n: int) -> Any:
    return tab.get_by_label(f"Emotion of line {n}", exact=True)


@pytest.mark.timeout(900)  # Kokoro renders, checks and matches on a shared machine
def test_the_whole_journey(browser: Any, matching_server: LiveServer, tmp_path: Path) -> None:
    server = matching_server
    tab, watched = open_page(browser, server.base_url)
    base = server.base_url
    events: list[str] = []
    tab.on("request", lambda r: r.url.endswith("/events") and events.append(r.url))
    # 1. Upload a zip by drag and drop.
    tab.goto(f"{base}/studio/#/groups")
    tab.get_by_role("article", name="Voice group Demo").wait_for()
    clips = make_zip([(f"Hero_{e}.wav", voice_wav(1.5, seed=i))
                      for i, e in enumerate(["greeting", "B1_B2", "B3_B4"])])
    drop_file(tab, '[aria-label="Drop a voice group zip, or choose one"]', "Hero.zip", clips,
              "application/zip")
    tab.get_by_text("Chosen: Hero.zip").wait_for()
    tab.get_by_role("button", name="Upload", exact=True).click()
    # 2. It appears and starts matching: the card shows the server's live matching progress
    # (a bar) while the nearest stock voice speaks.
    card = tab.get_by_role("article", name="Voice group Hero")
    card.get_by_text("Matching the voice to its clips: ").wait_for(timeout=UPLOAD_SECONDS * 1000)
    bar = card.locator("progress")
    assert 0 <= int(bar.get_attribute("value")) <= 100 and bar.get_attribute("max") == "100"
    assert "The nearest stock voice speaks until matching ends." in card.inner_text()
    assert "Hero_B3_B4.wav" in card.inner_text() and "incomplete" in card.inner_text()
    assert "stock (" in card.get_by_role("row", name="greeting").inner_text()
    # 3. Import a 6-line CSV script by dropping it on the Script screen.
    tab.get_by_role("link", name="Script").click()
    tab.get_by_role("heading", name="Script lines").wait_for()
    drop_file(tab, SCRIPT_DROP, "hero script.csv", SCRIPT_CSV, "text/csv")
    tab.get_by_text("Imported 6 lines from “hero script.csv”.").wait_for()
    for n, (filename, text, emotion) in enumerate(SCRIPT, start=1):
        assert tab.get_by_label(f"File name of line {n}").input_value() == filename
        assert tab.get_by_label(f"Text of line {n}").input_value() == text
        tab.wait_for_function("([n, e]) => document.querySelector(`tr[data-line='${n}'] "
                              "select[aria-label^='Emotion']`).dataset.picked === e",
                              arg=[n, emotion])
    # The emotion follows the file name as it is typed; Hero has no B5 clip, and says so.
    line5 = tab.locator("tr[data-line='5']").inner_text()
    assert "no B5_orgasm clip: the greeting clip speaks" in line5
    name = tab.get_by_label("File name of line 1")
    name.fill("")
    name.press_sequentially("Hero_impact_01.wav", delay=20)
    tab.wait_for_function("() => document.querySelector(\"tr[data-line='1'] select[aria-label^="
                          "'Emotion']\").dataset.picked === 'B3_B4'")
    assert picked(tab, 1).locator("option").first.inner_text() == "auto: B3_B4"
    name.fill("Hero_greeting_01.wav")
    tab.wait_for_function("() => document.querySelector(\"tr[data-line='1'] select[aria-label^="
                          "'Emotion']\").dataset.picked === 'greeting'")
    # 4. Generate all lines as a job; 5. progress reaches 100 % once every take is checked.
    tab.get_by_label("Job name").fill("Hero pack")
    tab.get_by_role("button", name="Generate all").click()
    state = tab.locator("p.stats[data-progress='100'][data-status='completed']")
    state.wait_for(timeout=JOB_SECONDS * 1000)
    assert "6 of 6 lines done · 100 %" in state.inner_text()
    done = tab.locator("table.lines tbody tr[data-status='completed']")
    done.nth(5).wait_for()
    assert done.count() == 6
    job_id = tab.evaluate("localStorage.getItem('breathvoice.script.job')")
    found = lines_of(server, job_id)
    assert found[HOSTILE_FILE]["text"] == HOSTILE_TEXT
    # Every row shows the verdict the recogniser gave its chosen take.
    for filename, line in found.items():
        chosen = next(t for t in line["takes"] if t["take"] == line["chosen_take"])
        row = tab.locator("table.lines tbody tr", has=tab.locator("td.file", has_text=filename))
        verdict = row.locator(".qa strong.badge")
        verdict.wait_for()
        assert verdict.inner_text() == chosen["qa"]["verdict"]
        assert chosen["qa"]["heard"], chosen
    assert all(line["takes"][0]["qa"]["verdict"] == "ok" for f, line in found.items()
               if f != HOSTILE_FILE), found
    failed = {f for f, line in found.items() if next(
        t for t in line["takes"] if t["take"] == line["chosen_take"])["qa"]["verdict"] == "fail"}
    tab.get_by_label("Only lines that failed QA").check()
    shown = tab.locator("table.lines tbody td.file").all_inner_texts()
    assert set(shown) == failed
    tab.get_by_label("Only lines that failed QA").uncheck()
    # Hostile names are text, everywhere.
    tab.locator("table.lines td.file", has_text=HOSTILE_FILE).wait_for()
    assert tab.evaluate("document.querySelectorAll('img[src=x], script:not([src])').length") == 0
    # 6. Play a line: the audio has a duration and plays on; the waveform is drawn.
    tab.get_by_role("button", name="Play Hero_B1_02.wav").click()
    tab.wait_for_function("() => { const a = document.querySelector('audio.player');"
                          " return a.duration > 0 && a.currentTime > 0.2; }", timeout=20_000)
    assert tab.get_by_text("Playing Hero_B1_02.wav, take 1").is_visible()
    drawn = tab.evaluate("""() => {
        const c = document.querySelector("canvas[aria-label='Waveform of Hero_B1_02.wav']");
        const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let lit = 0; for (let i = 3; i < px.length; i += 4) if (px[i]) lit += 1;
        return lit; }""")
    assert drawn > 100
    # 7. Redo a line: its new take is rendered and checked, the server picks the better of
    # the two; then the user chooses, and the new take goes in the pack.
    tab.get_by_role("button", name="Redo Hero_B3_03.wav").click()
    wait_line_decided(tab, "Hero_B3_03.wav", 2, JOB_SECONDS)
    assert events, "the page follows the job's event stream"
    line = lines_of(server, job_id)["Hero_B3_03.wav"]
    assert line["chosen_by"] == "auto" and all(t["qa"] for t in line["takes"])
    for take in [2] if line["chosen_take"] == 1 else [1, 2]:
        tab.get_by_label(f"Use take {take} of Hero_B3_03.wav").check()
        tab.get_by_text(f"Hero_B3_03.wav: take {take} goes in the pack.").wait_for()
        line = lines_of(server, job_id)["Hero_B3_03.wav"]
        assert (line["chosen_take"], line["chosen_by"]) == (take, "user")
    # 8. Export: the downloaded zip holds the 6 files (and the take chosen above).
    with tab.expect_download() as download:
        tab.get_by_role("button", name="Export pack (zip)").click()
    target = tmp_path / "pack.zip"
    download.value.save_as(target)
    with zipfile.ZipFile(target) as pack:
        audio = {n for n in pack.namelist() if n.endswith(".wav")}
        assert audio == {f"Hero/{f}" for f, _, _ in SCRIPT}
        manifest = json.loads(pack.read("manifest.json"))
        assert all(pack.read(n)[:4] == b"RIFF" for n in audio)
    records = {r["path"]: r for r in manifest["lines"]}
    assert records["Hero/Hero_B3_03.wav"]["take"] == 2
    watched.assert_clean()
    # Closing the tab loses nothing: a new tab shows the job, its lines and the draft.
    context = tab.context
    tab.close()
    again = context.new_page()
    again.on("console", lambda m: m.type == "error" and watched.console_errors.append(m.text))
    again.goto(f"{base}/studio/#/script")
    again.locator("p.stats[data-progress='100']").wait_for()
    done = again.locator("table.lines tbody tr[data-status='completed']")
    done.nth(5).wait_for()
    assert done.count() == 6
    assert again.get_by_role("combobox", name="Job", exact=True).input_value() == job_id
    assert again.get_by_label("File name of line 6").input_value() == HOSTILE_FILE
    # Matching ran meanwhile: the group now speaks with its matched voice, and says how close.
    again.goto(f"{base}/studio/#/groups")
    matched = again.get_by_role("article", name="Voice group Hero")
    matched.get_by_text("Speaks with the matched voice, similarity 0.").wait_for(
        timeout=MATCHING_SECONDS * 1000)
    assert matched.locator("progress").count() == 0
    enrolment = requests.get(f"{base}/breathvoice/voice-groups/Hero", timeout=10).json()
    assert enrolment["enrolment"]["status"] == "ready"
    assert enrolment["enrolment"]["method"] == "matched"
    watched.assert_clean()
    context.close()


def test_qa_verdicts_and_the_failed_filter(page: tuple[Any, Watched],
                                           server: LiveServer) -> None:
    """Takes carry the server's QA report (``null`` while it is checked); its answers are
    replayed here with reports, as a QA-enabled server sends them."""
    tab, watched = page
    base = server.base_url
    job = requests.post(f"{base}/breathvoice/jobs", json={"name": "QA", "lines": [
        {"filename": f"qa_{i}.wav", "text": f"Line number {i}.", "voice_group_id": "Demo"}
        for i in range(3)]}, timeout=10).json()
    reports = [{"verdict": "fail", "reasons": ["heard “line number” for “line number 0”"],
                "heard": "line number", "error_rate": 0.33},
               {"verdict": "ok", "reasons": [], "heard": "line number 1", "error_rate": 0.0},
               None]

    def with_qa(route: Any) -> None:
        body = route.fetch().json()
        for line in body["lines"]:
            for take in line["takes"]:
                take["qa"] = reports[int(line["filename"][3])]
        route.fulfill(json=body)

    tab.route(f"**/breathvoice/jobs/{job['job_id']}/lines?*", with_qa)
    tab.goto(f"{base}/studio/#/script")
    tab.evaluate("(id) => localStorage.setItem('breathvoice.script.job', id)", job["job_id"])
    tab.reload()
    tab.locator("p.stats[data-progress='100']").wait_for(timeout=60_000)
    rows = tab.locator("table.lines tbody tr")
    rows.filter(has_text="qa_2.wav").get_by_text("checking…").wait_for()
    failed = rows.filter(has_text="qa_0.wav")
    failed.get_by_text("heard “line number” for “line number 0”").wait_for()
    assert "fail" in failed.inner_text() and "ok" in rows.filter(has_text="qa_1.wav").inner_text()
    tab.get_by_label("Only lines that failed QA").check()
    assert rows.count() == 1 and "qa_0.wav" in rows.first.inner_text()
    tab.get_by_label("Only lines that failed QA").uncheck()
    assert rows.count() == 3
    # At phone width the screen does not scroll sideways.
    tab.set_viewport_size(PHONE)
    assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Deleting the job asks first, then it is gone from the server.
    tab.get_by_role("button", name="Delete job").click()
    tab.get_by_role("dialog").get_by_role("button", name="Delete").click()
    tab.locator("table.lines").wait_for(state="hidden")
    gone = requests.get(f"{base}/breathvoice/jobs/{job['job_id']}", timeout=10)
    assert gone.status_code == 404
    watched.assert_clean()


def test_a_bad_script_is_refused_in_words(page: tuple[Any, Watched], server: LiveServer) -> None:
    tab, watched = page
    tab.goto(f"{server.base_url}/studio/#/script")
    # The drop zone is reached with the keyboard; its file picker takes a TSV.
    tab.get_by_role("button", name="Clear the table").click()
    tab.get_by_label("Paste lines").focus()
    tab.keyboard.press("Shift+Tab")
    focused = tab.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Drop a script (CSV or TSV), or choose one"
    tab.locator("input[type=file][accept*='.tsv']").set_input_files(
        [{"name": "lines.tsv", "mimeType": "text/tab-separated-values",
          "buffer": b"filename\ttext\nHero_B1.wav\tHi.\n"}])
    tab.get_by_text("Imported 1 line from “lines.tsv”.").wait_for()
    assert tab.get_by_label("File name of line 1").input_value() == "Hero_B1.wav"
    tab.get_by_role("button", name="Clear the table").click()
    tab.get_by_label("Paste lines").fill("ok_line.wav\tFine.\nbad/../name.wav\tNot fine.")
    tab.get_by_role("button", name="Add pasted lines").click()
    tab.get_by_label("Select line 2").check()
    tab.get_by_role("button", name="Generate selected").click()
    tab.get_by_role("alert").filter(has_text="path separators").wait_for()
    assert tab.get_by_label("File name of line 2").get_attribute("aria-invalid") == "true"
    focused = tab.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "File name of line 2"
    watched.console_errors[:] = [e for e in watched.console_errors if "400" not in e]
    watched.assert_clean()
