"""Pronunciation dictionaries over HTTP, on the in-process app (tone engine): ElevenLabs'
routes, PLS in and out (hostile files refused), a voice group's dictionaries, and every
synthesis route handing the rules to the engine."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from breathvoice.pronunciation.lexicon import Lexicon
from test_jobs_api import wait_ended
from tone_engine import ToneEngine
from zips import group_entries, make_zip

BASE = "/v1/pronunciation-dictionaries"
ACME = {"type": "alias", "string_to_replace": "ACME", "alias": "apple"}
XING = {"type": "phoneme", "string_to_replace": "行", "phoneme": "xíng", "alphabet": "pinyin"}

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lexicon [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon">
 <lexeme><grapheme>x</grapheme><alias>&d;</alias></lexeme></lexicon>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE lexicon [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon">
 <lexeme><grapheme>x</grapheme><alias>&secret;</alias></lexeme></lexicon>"""


def _create(client: TestClient, *rules: dict[str, Any], name: str = "names") -> dict[str, Any]:
    response = client.post(f"{BASE}/add-from-rules", json={"name": name, "rules": list(rules)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _lexicons_of(engine: ToneEngine, said: str) -> list[Lexicon | None]:
    """The lexicon the engine was given each time it spoke ``said``."""
    return [options.lexicon for text, options in zip(engine.calls, engine.options, strict=True)
            if text == said]


def _pls(*lexemes: str) -> bytes:
    body = "".join(f"<lexeme>{lexeme}</lexeme>" for lexeme in lexemes)
    return ('<?xml version="1.0" encoding="UTF-8"?><lexicon version="1.0" '
            'xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" '
            f'xml:lang="en-US">{body}</lexicon>').encode()


def test_rules_are_versioned_and_each_change_makes_a_version(app: Any) -> None:
    with app() as client:
        created = _create(client, ACME)
        assert created["version_rules_num"] == 1 and created["name"] == "names"
        added = client.post(f"{BASE}/{created['id']}/add-rules", json={"rules": [XING]}).json()
        assert added["version_rules_num"] == 2 and added["version_id"] != created["version_id"]
        removed = client.post(f"{BASE}/{created['id']}/remove-rules",
                              json={"rule_strings": ["ACME"]}).json()
        assert removed["version_rules_num"] == 1
        got = client.get(f"{BASE}/{created['id']}").json()
        assert got["latest_version_id"] == removed["version_id"]
        assert got["rules"] == [{**XING, "phoneme": "xing2", "case_sensitive": True,
                                 "word_boundaries": True}]
        listed = client.get(BASE).json()
        assert [d["id"] for d in listed["pronunciation_dictionaries"]] == [created["id"]]
        # the first version still holds what it held
        first = client.get(f"{BASE}/{created['id']}/{created['version_id']}/download")
        assert first.status_code == 200 and b"<grapheme>ACME</grapheme>" in first.content


def test_a_pls_file_round_trips(app: Any) -> None:
    pls = _pls("<grapheme>tomato</grapheme><phoneme>/təˈmɑːtoʊ/</phoneme>",
               "<grapheme>ACME</grapheme><grapheme>Acme</grapheme><alias>apple</alias>")
    with app() as client:
        made = client.post(f"{BASE}/add-from-file", data={"name": "from file"},
                           files={"file": ("d.pls", pls, "application/pls+xml")}).json()
        assert made["version_rules_num"] == 3
        exported = client.get(f"{BASE}/{made['id']}/{made['version_id']}/download").content
        again = client.post(f"{BASE}/add-from-file", data={"name": "again"},
                            files={"file": ("d.pls", exported, "application/pls+xml")}).json()
        rules = [client.get(f"{BASE}/{d['id']}").json()["rules"] for d in (made, again)]
        assert rules[0] == rules[1]
        assert {r["string_to_replace"] for r in rules[0]} == {"tomato", "ACME", "Acme"}


def test_hostile_pls_files_are_refused_with_a_clear_400(app: Any) -> None:
    huge = _pls(*[f"<grapheme>word{i}</grapheme><alias>other{i}</alias>"
                  for i in range(200_000)])
    assert len(huge) > 10_000_000
    cases = {"entity": BOMB, "external": EXTERNAL, "size": huge, "junk": b"<lexicon"}
    with app() as client:
        for what, data in cases.items():
            response = client.post(f"{BASE}/add-from-file", data={"name": what},
                                   files={"file": ("d.pls", data, "application/pls+xml")})
            assert response.status_code == 400, (what, response.text)
            message = response.json()["detail"]["message"]
            assert "PLS" in message or "XML" in message or "entit" in message, message
            assert "/etc" not in response.text and "Traceback" not in response.text
        assert client.get(BASE).json()["pronunciation_dictionaries"] == []


def test_bad_rules_and_unknown_dictionaries_are_refused(app: Any) -> None:
    with app() as client:
        bad = {**XING, "phoneme": "not pinyin!"}
        response = client.post(f"{BASE}/add-from-rules", json={"name": "x", "rules": [bad]})
        assert response.status_code == 400
        assert client.get(f"{BASE}/nope").status_code == 404
        four = [{"pronunciation_dictionary_id": "a"}] * 4
        response = client.post("/v1/text-to-speech/Demo", json={
            "text": "hi", "pronunciation_dictionary_locators": four})
        assert response.status_code == 400


def _lexicon(engine: ToneEngine) -> Lexicon | None:
    return engine.options[-1].lexicon


def test_every_route_hands_the_rules_to_the_engine_request_first(app: Any) -> None:
    engine = ToneEngine()
    with app(engine=engine) as client:
        group = _create(client, {**ACME, "alias": "group apple"}, name="group")
        mine = _create(client, ACME, name="request")
        put = client.put("/breathvoice/voice-groups/Demo/pronunciation-dictionaries", json={
            "pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": group["id"]}]})
        assert put.status_code == 200, put.text
        locators = [{"pronunciation_dictionary_id": mine["id"],
                     "version_id": mine["version_id"]}]
        calls = [
            ("/breathvoice/single-tts", {"text": "I work at ACME", "filename": "greeting_1.wav",
                                         "voice_group_id": "Demo"}),
            ("/v1/audio/speech", {"input": "I work at ACME", "voice": "Demo"}),
            ("/v1/text-to-speech/Demo", {"text": "I work at ACME"}),
        ]
        for path, body in calls:
            assert client.post(path, json=body).status_code == 200, path
            lexicon = _lexicon(engine)
            assert lexicon is not None
            [match] = lexicon.matches("I work at ACME")
            assert match.rule.alias == "group apple", path
            response = client.post(path, json={**body, "pronunciation_dictionary_locators":
                                               locators})
            assert response.status_code == 200, path
            lexicon = _lexicon(engine)
            assert lexicon is not None
            assert [m.rule.alias for m in lexicon.matches("I work at ACME")] == ["apple"]
        batch = client.post("/breathvoice/batch-tts", json={"requests": [
            {**calls[0][1], "pronunciation_dictionary_locators": locators}]})
        assert batch.json()["successful_count"] == 1
        lexicon = _lexicon(engine)
        assert lexicon is not None
        assert [m.rule.alias for m in lexicon.matches("at ACME")] == ["apple"]
        details = client.get("/breathvoice/voice-groups/Demo").json()
        assert details["pronunciation_dictionaries"] == [
            {"pronunciation_dictionary_id": group["id"], "version_id": None}]


def test_a_group_zip_may_carry_its_pronunciation(app: Any) -> None:
    engine = ToneEngine()
    pls = _pls("<grapheme>ACME</grapheme><alias>apple</alias>")
    good = make_zip([*group_entries("Hero", ["greeting"]), ("pronunciation.pls", pls)])
    with app(engine=engine) as client:
        response = client.post("/breathvoice/upload-voice-group",
                               files={"file": ("Hero.zip", good, "application/zip")},
                               data={"voice_group_id": "Hero"})
        assert response.status_code == 200, response.text
        said = client.post("/breathvoice/single-tts", json={
            "text": "at ACME", "filename": "greeting_2.wav", "voice_group_id": "Hero"})
        assert said.status_code == 200
        lexicon = _lexicon(engine)
        assert lexicon is not None and lexicon.matches("at ACME")[0].rule.alias == "apple"
        listed = client.get("/breathvoice/voice-groups/Hero/pronunciation-dictionaries")
        assert listed.json()["pronunciation_file"] is True
        bad = make_zip([*group_entries("Evil", ["greeting"]), ("pronunciation.pls", BOMB)])
        refused = client.post("/breathvoice/upload-voice-group",
                              files={"file": ("Evil.zip", bad, "application/zip")},
                              data={"voice_group_id": "Evil"})
        assert refused.status_code == 400
        body = refused.json()
        assert body["success"] is False and "pronunciation.pls" in body["error"]
        assert client.get("/breathvoice/voice-groups/Evil").status_code == 404


def test_script_jobs_apply_the_groups_dictionaries(app: Any) -> None:
    engine = ToneEngine()
    with app(engine=engine) as client:
        group = _create(client, ACME, name="group")
        client.put("/breathvoice/voice-groups/Demo/pronunciation-dictionaries", json={
            "pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": group["id"]}]})
        job = client.post("/breathvoice/jobs", json={"lines": [
            {"text": "We met at ACME.", "filename": "acme_B1.wav", "voice_group_id": "Demo"}]})
        assert job.status_code in (200, 201, 202), job.text
        wait_ended(client, job.json()["job_id"])
        spoken = _lexicons_of(engine, "We met at ACME.")
        assert spoken and spoken[-1] is not None
        assert [m.rule.alias for m in spoken[-1].matches("We met at ACME.")] == ["apple"]


def test_the_elevenlabs_sdk_manages_dictionaries(app: Any) -> None:
    from elevenlabs import ElevenLabs
    from elevenlabs.pronunciation_dictionaries.rules.types.pronunciation_dictionary_rule import (
        PronunciationDictionaryRule_Phoneme,
    )

    with app() as client:
        sdk = ElevenLabs(base_url=str(client.base_url), api_key="unused", httpx_client=client)
        made = sdk.pronunciation_dictionaries.create_from_file(
            name="names", file=("d.pls", _pls("<grapheme>ACME</grapheme><alias>apple</alias>")))
        added = sdk.pronunciation_dictionaries.rules.add(made.id, rules=[
            PronunciationDictionaryRule_Phoneme(string_to_replace="长", phoneme="cháng",
                                                alphabet="pinyin")])
        assert added.version_rules_num == 2
        got = sdk.pronunciation_dictionaries.get(made.id)
        assert got.latest_version_id == added.version_id
        assert [rule.string_to_replace for rule in got.rules] == ["ACME", "长"]
        removed = sdk.pronunciation_dictionaries.rules.remove(made.id, rule_strings=["ACME"])
        assert removed.version_rules_num == 1
        listed = sdk.pronunciation_dictionaries.list()
        assert [d.id for d in listed.pronunciation_dictionaries] == [made.id]
        pls = b"".join(sdk.pronunciation_dictionaries.download(made.id, added.version_id))
        assert b"<grapheme>ACME</grapheme>" in pls and "cháng".encode() not in pls
        assert b'alphabet="x-pinyin">chang2<' in pls


def test_a_script_job_applies_the_dictionaries_it_names_before_the_groups(app: Any) -> None:
    engine = ToneEngine()
    with app(engine=engine) as client:
        group = _create(client, ACME, name="group")
        client.put("/breathvoice/voice-groups/Demo/pronunciation-dictionaries", json={
            "pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": group["id"]}]})
        named = _create(client, {**ACME, "alias": "ack me"}, name="job")
        locators = [{"pronunciation_dictionary_id": named["id"]}]
        unknown = client.post("/breathvoice/jobs", json={
            "lines": [{"text": "x", "filename": "x.wav"}],
            "pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": "nope"}]})
        assert unknown.status_code in (400, 404), unknown.text
        assert client.get("/breathvoice/jobs").json()["count"] == 0
        script = b"filename,text\nacme_B1.wav,We met at ACME.\n"
        job = client.post("/breathvoice/jobs", files={"file": ("s.csv", script)}, data={
            "voice_group_id": "Demo", "pronunciation_dictionary_locators": json.dumps(locators)})
        assert job.status_code == 202, job.text
        wait_ended(client, job.json()["job_id"])
        spoken = _lexicons_of(engine, "We met at ACME.")
        assert spoken and spoken[-1] is not None
        assert [m.rule.alias for m in spoken[-1].matches("We met at ACME.")][0] == "ack me"
