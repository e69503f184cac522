"""Pronunciation dictionaries: heard, read, and what they cost the socket's first audio.

Prints a table of three figures:

  1. English alias ``ACME`` -> ``apple``: 10 sentences spoken by the embedded engine with
     and without the rule, transcribed by Whisper (the project's recogniser); how many are
     heard with "apple"                                                    target >= 9/10
  2. Chinese pinyin rules: 20 sentences, each with a polyphone (行 重 长 还 为 ...) whose
     default reading the rule turns into the other one; scored on the phonemes the G2P
     passes to the engine (the rule's syllable there, the rest of the sentence unchanged)
                                                                           target 20/20
  3. Time to first audio on the multi-context socket (a real server on a free loopback
     port), a context opened with a 500-rule dictionary over one without; alternating
     rounds, median of per-pair ratios                                     target <= 1.05

    .venv/bin/python bench/pronunciation.py      (a few minutes on 2 idle cores)
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from breathvoice.engines.base import SynthesisOptions  # noqa: E402
from breathvoice.engines.kokoro.engine import KokoroEngine  # noqa: E402
from breathvoice.engines.kokoro.g2p import Phonemizer  # noqa: E402
from breathvoice.engines.kokoro.lexicon import pinyin_phonemes  # noqa: E402
from breathvoice.engines.kokoro.text import normalize  # noqa: E402
from breathvoice.pronunciation.lexicon import Lexicon  # noqa: E402
from breathvoice.pronunciation.rules import alias_rule, phoneme_rule  # noqa: E402
from breathvoice.qa.recognise import Recogniser  # noqa: E402
from conftest import start_server, stop_server  # noqa: E402

ENGLISH = [
    "I work at ACME.", "ACME makes good coffee.", "We met at ACME last year.",
    "Tell ACME I said hello.", "The ACME office is closed today.",
    "She bought a gift from ACME.", "My brother left ACME in May.",
    "Is ACME open on Sunday?", "They sold ACME for a lot of money.", "Call ACME tomorrow.",
]
# (sentence, polyphone, the reading the rule asks for)
CHINESE = [
    ("我们去银行取钱。", "行", "xing2"), ("他在路上行走。", "行", "hang2"),
    ("这件事很重要。", "重", "chong2"), ("我们重新开始吧。", "重", "zhong4"),
    ("孩子长大了。", "长", "chang2"), ("这条河很长。", "长", "chang2"),
    ("他还没有回来。", "还", "huan2"), ("请把书还给我。", "还", "hai2"),
    ("我们为人民服务。", "为", "wei2"), ("他成为了老师。", "为", "wei4"),
    ("音乐很好听。", "乐", "le4"), ("他今天很快乐。", "乐", "yue4"),
    ("这个地方很好。", "地", "de5"), ("他慢慢地走了。", "地", "de5"),
    ("我觉得很好。", "觉", "jiao4"), ("他睡了一觉。", "觉", "jue2"),
    ("我们都是朋友。", "都", "du1"), ("北京是首都。", "都", "dou1"),
    ("他得了第一名。", "得", "dei3"), ("你得好好学习。", "得", "dei3"),
]
TTFA_TEXT = "Hello there, I work at ACME with Siobhan and Nguyen. 我们去银行取钱吧。"
ROUNDS = 12
RULES = 500


def english(engine: KokoroEngine) -> tuple[int, int, list[str]]:
    recogniser = Recogniser(threads=2)
    voice = engine.stock_voices()["jm_kumo"]
    lexicon = Lexicon([alias_rule("ACME", "apple")])

    def heard(text: str, rules: Lexicon | None) -> str:
        options = SynthesisOptions(language="en", lexicon=rules)
        samples = np.concatenate([c.samples for c in engine.synthesize(text, voice, options)])
        return recogniser.transcribe(samples, engine.sample_rate, "en").text

    with_rule = [heard(text, lexicon) for text in ENGLISH]
    without = [heard(text, None) for text in ENGLISH]
    recogniser.close()
    return (sum("apple" in said.lower() for said in with_rule),
            sum("apple" in said.lower() for said in without), with_rule)


def chinese(phonemizer: Phonemizer) -> tuple[int, int]:
    flipped = default_differs = 0
    for text, char, pinyin in CHINESE:
        where = text.index(char)
        clean = normalize(text)
        plain = phonemizer.phonemize(clean, 0, len(clean), "zh")
        rules = Lexicon([phoneme_rule(char, pinyin, "pinyin")])
        ruled = phonemizer.phonemize(clean, 0, len(clean), "zh", rules.matches(text))
        said = {s.start: s.phonemes.strip() for s in ruled}
        before = {s.start: s.phonemes.strip() for s in plain}
        wanted = pinyin_phonemes(pinyin)
        default_differs += before[where] != wanted
        rest_same = all(said[k] == v for k, v in before.items() if k != where)
        flipped += said[where] == wanted and before[where] != wanted and rest_same
    return flipped, default_differs


async def _first_audio(url: str, context: str, locators: list[dict[str, str]] | None) -> float:
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"text": " ", "context_id": "warm"}))
        message: dict[str, object] = {"text": TTFA_TEXT, "context_id": context, "flush": True}
        if locators is not None:
            message["pronunciation_dictionary_locators"] = locators
        started = time.perf_counter()
        await ws.send(json.dumps(message))
        while True:
            reply = json.loads(await ws.recv())
            if reply.get("audio") and base64.b64decode(str(reply["audio"])):
                elapsed = time.perf_counter() - started
                break
            if reply.get("error"):
                raise RuntimeError(reply)
        await ws.send(json.dumps({"close_socket": True}))
        async for _ in ws:
            pass
        return elapsed


def ttfa() -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data", Path(tmp) / "server.log",
                              BREATHVOICE_ENGINE_WORKERS="1")
        try:
            rules = [{"type": "alias", "string_to_replace": f"Zorblax{i}", "alias": f"zor {i}"}
                     for i in range(RULES - 3)]
            rules += [{"type": "alias", "string_to_replace": "ACME", "alias": "apple"},
                      {"type": "phoneme", "string_to_replace": "Siobhan",
                       "phoneme": "ʃɪˈvɔːn", "alphabet": "ipa"},
                      {"type": "phoneme", "string_to_replace": "行", "phoneme": "hang2",
                       "alphabet": "pinyin"}]
            made = httpx.post(f"{server.base_url}/v1/pronunciation-dictionaries/add-from-rules",
                              json={"name": "bench", "rules": rules}, timeout=60).json()
            locators = [{"pronunciation_dictionary_id": made["id"],
                         "version_id": made["version_id"]}]
            url = f"{server.ws_url}/v1/text-to-speech/Demo/multi-stream-input"
            asyncio.run(_first_audio(url, "w0", locators))  # warm both paths
            asyncio.run(_first_audio(url, "w1", None))
            ratios, ruled, plain = [], [], []
            for index in range(ROUNDS):
                order = [True, False] if index % 2 == 0 else [False, True]
                got = {}
                for use in order:
                    got[use] = asyncio.run(_first_audio(url, f"c{index}{use}",
                                                        locators if use else None))
                ruled.append(got[True])
                plain.append(got[False])
                ratios.append(got[True] / got[False])
            return statistics.median(ratios), statistics.median(ruled), statistics.median(plain)
        finally:
            stop_server(server)


def main() -> None:
    engine = KokoroEngine()
    phonemizer = Phonemizer(engine.model.vocab)
    flipped, differs = chinese(phonemizer)
    heard, heard_without, transcripts = english(engine)
    del engine
    ratio, ruled, plain = ttfa()
    rows = [
        ("English alias ACME->apple heard (Whisper)", f"{heard}/10 (without the rule: "
         f"{heard_without}/10)", ">= 9/10"),
        ("Chinese pinyin rule flips the polyphone", f"{flipped}/20 (default differs: "
         f"{differs}/20)", "20/20"),
        (f"socket TTFA, {RULES} rules / none", f"{ratio:.3f} ({ruled * 1e3:.0f} ms / "
         f"{plain * 1e3:.0f} ms, median of {ROUNDS})", "<= 1.05"),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"{'measure':<{width}}  {'result':<44}  target")
    for name, result, target in rows:
        print(f"{name:<{width}}  {result:<44}  {target}")
    print("\nheard with the rule:")
    for said in transcripts:
        print(f"  {said}")


if __name__ == "__main__":
    main()
