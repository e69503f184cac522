"""The intelligibility guard of voice matching, on a simulated voice and recogniser.

The simulated engine speaks a sentence as a buzzy tone: one loudness bump per syllable at
4 syllables a second times the voice's speed (raised to :data:`SPEED_RESPONSE`, as a model
whose pace does not follow its speed control exactly), at 150 Hz times the voice's pitch
shift. The simulated recogniser hears the script word for word unless the speech is
faster than :data:`UNDERSTOOD_PACE` or higher than :data:`UNDERSTOOD_PITCH`, then only
every other word; a test may have it mishear the last word of every sentence at some paces
(``Simulated.misses``), as Whisper mishears a unit here and there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from breathvoice.engines.base import VoiceState
from breathvoice.matching.analysis import prosody, speaking_seconds, syllable_count
from breathvoice.matching.enrolment import enrol
from breathvoice.matching.guard import Guard
from breathvoice.matching.guard_hearing import ERROR_TOLERANCE, GUARD_SENTENCES, NOISE_SPEED
from breathvoice.matching.moves import shrink_voice
from test_enrolment import RATE, syllables
from test_enrolment_jobs import ClipMatcher, open_library, runners, settings, upload
from zips import good_zip

__all__ = ["runners", "settings"]

BASE_PACE = 4.0
SPEED_RESPONSE = 0.7
UNDERSTOOD_PACE = 5.0
"""Syllables a second the simulated listener follows: 1.25x the base voice's pace."""
UNDERSTOOD_PITCH = 190.0


class Simulated:
    """A speak function and a recogniser over the simulated speech above."""

    def __init__(self) -> None:
        self.spoken: dict[bytes, tuple[str, float, float]] = {}
        self.kept: list[np.ndarray] = []
        self.clips: dict[int, str] = {}
        self.renders = 0
        self.long_pace = UNDERSTOOD_PACE
        """The pace up to which sentences of more than 15 words are followed."""
        self.misses: Callable[[float], bool] = lambda pace: False
        """Whether the last word of each sentence spoken at a pace is misheard."""

    def speak(self, voice: VoiceState, text: str, language: str) -> np.ndarray:
        self.renders += 1
        pace = BASE_PACE * float(voice.info.get("speed", 1.0)) ** SPEED_RESPONSE
        pitch = 150.0 * np.exp(float(voice.info.get("pitch_shift", 0.0)))
        audio = self.clip(syllable_count(text, language), pace, pitch)
        audio *= np.float32(10 ** (float(voice.info.get("gain_db", 0.0)) / 20))
        # an inaudible mark of the text, so that renders of sentences as long differ
        audio[0] = np.float32(1e-6 * (1 + sum(map(ord, text)) % 997))
        self.spoken[audio.tobytes()] = (text, pace, pitch)
        return audio

    @staticmethod
    def clip(count: int, pace: float, pitch: float) -> np.ndarray:
        speech = syllables(count / pace, pitch, pace)
        gap = np.zeros(int(0.1 * RATE), np.float32)
        return np.concatenate([gap, speech, gap])

    def say(self, count: int, pace: float, pitch: float) -> np.ndarray:
        """A reference clip of ``count`` syllables the recogniser will hear as such."""
        audio = self.clip(count, pace, pitch)
        self.clips[id(audio)] = " ".join(["ba"] * count)
        self.kept.append(audio)
        return audio

    def hear(self, samples: Any, rate: int, language: str | None) -> tuple[str, str]:
        """Each render found in ``samples``, in order: word for word if it was clear."""
        if language is None:
            return self.clips[id(samples)], "en"
        heard = np.asarray(samples, np.float32).tobytes()
        found = sorted((heard.find(audio), said) for audio, said in self.spoken.items()
                       if audio in heard)
        assert found, "nothing the simulated engine said"
        words = []
        for _, (text, pace, pitch) in found:
            limit = self.long_pace if len(text.split()) > 15 else UNDERSTOOD_PACE
            clear = pace <= limit and pitch <= UNDERSTOOD_PITCH
            said = text.split() if clear else text.split()[::2]
            words += said[:-1] + ["um"] if self.misses(pace) else said
        return " ".join(words), language


def base_voice(clip: np.ndarray, pace: float) -> VoiceState:
    return VoiceState("kokoro", arrays={"style": np.zeros((510, 1, 256), np.float32)},
                      info={"method": "matched", "pitch_shift": 0.0, "pitch_range": 1.0,
                            "speed": 1.0, "gain_db": 0.0,
                            "reference_prosody": prosody(clip, RATE).as_dict(),
                            "reference_pace": pace})


@pytest.fixture
def world() -> tuple[Simulated, Guard]:
    simulated = Simulated()
    return simulated, Guard(simulated.speak, simulated.hear, ("en",))


def test_an_emotion_s_pace_and_pitch_land_on_its_clip_s(world: tuple[Simulated, Guard]) -> None:
    simulated, guard = world
    main = simulated.say(24, 4.0, 150.0)
    base = guard.protect_voice(base_voice(main, guard.clip_pace(main, RATE)[0]),
                               base_voice(main, 0.0), "stock")
    # 1.2x faster and 3 semitones higher than the main clip
    faster = enrol(None, simulated.say(24, 4.8, 150.0 * 2 ** 0.25), RATE, base=base,
                   guard=guard)
    checked = faster.info["intelligibility"]
    assert checked["pace_target"] == pytest.approx(1.2, abs=0.03)
    assert checked["pace_ratio"] == pytest.approx(checked["pace_target"], rel=0.05)
    # the simulated model's pace follows speed**0.8: the render, not the control, decides
    assert faster.info["speed"] == pytest.approx(1.2 ** (1 / SPEED_RESPONSE), rel=0.05)
    assert faster.info["pitch_shift"] == pytest.approx(0.25 * np.log(2), abs=0.03)
    assert checked["shrink"] == {"pace": 1.0, "pitch": 1.0}
    assert checked["error"] == {"en": 0.0} and checked["stock_error"] == {"en": 0.0}
    assert "stock_noise" not in checked  # nothing failed: the stock voice was heard once


def test_an_overshooting_move_shrinks_pace_first_until_understood(
        world: tuple[Simulated, Guard]) -> None:
    simulated, guard = world
    main = simulated.say(24, 4.0, 150.0)
    base = guard.protect_voice(base_voice(main, guard.clip_pace(main, RATE)[0]),
                               base_voice(main, 0.0), "stock")
    # 1.6x faster (the speed control stops at 1.4): more than the listener follows, so
    # the pace move shrinks to the largest share (in eighths) the listener follows: 7/8
    rushed = enrol(None, simulated.say(24, 6.4, 180.0), RATE, base=base, guard=guard)
    checked = rushed.info["intelligibility"]
    assert checked["shrink"] == {"pace": 0.875, "pitch": 1.0}
    assert checked["error"]["en"] <= checked["stock_error"]["en"] + ERROR_TOLERANCE
    assert BASE_PACE * rushed.info["speed"] ** SPEED_RESPONSE <= UNDERSTOOD_PACE
    assert 1.0 < checked["pace_ratio"] < checked["pace_target"]
    assert rushed.info["pitch_shift"] == pytest.approx(np.log(180 / 150), abs=0.03)


def test_a_move_only_the_long_sentence_trips_on_is_caught_and_shrunk() -> None:
    simulated = Simulated()
    simulated.long_pace = 4.6
    every = Guard(simulated.speak, simulated.hear, ("en",))
    first = Guard(simulated.speak, simulated.hear, ("en",),
                  sentences={"en": GUARD_SENTENCES["en"][:1]})
    main = simulated.say(24, 4.0, 150.0)
    base = every.protect_voice(base_voice(main, every.clip_pace(main, RATE)[0]),
                               base_voice(main, 0.0), "stock")
    clip = simulated.say(24, 4.8, 150.0)  # 1.2x: too fast for the long sentence only
    checked = enrol(None, clip, RATE, base=base, guard=every).info["intelligibility"]
    assert checked["shrink"] == {"pace": 0.75, "pitch": 1.0}  # 7/8 is too fast
    assert checked["error"]["en"] <= checked["stock_error"]["en"] + ERROR_TOLERANCE
    assert 1.0 < checked["pace_ratio"] < 1.2 ** 0.8
    # one short sentence would have let the whole move through
    missed = enrol(None, clip, RATE, base=base, guard=first).info["intelligibility"]
    assert missed["shrink"] == {"pace": 1.0, "pitch": 1.0}
    assert missed["pace_ratio"] == pytest.approx(1.2, rel=0.05)


def test_the_tolerance_is_two_points_where_the_guard_s_text_can_measure_them() -> None:
    guard = Guard(Simulated().speak, Simulated().hear, ("zh", "en"))
    # 39 characters and 32 words: one misheard unit is 2.6 and 3.1 points
    assert guard.tolerance_for("zh") == pytest.approx(1 / 39, abs=0.001)
    assert guard.tolerance_for("en") == pytest.approx(1 / 32, abs=0.001)
    assert guard.tolerance_for("en", noise=0.09) == pytest.approx(0.09)
    long = Guard(guard.speak, guard.hear, ("en",), sentences={"en": (" ".join(["word"] * 60),)})
    assert long.tolerance_for("en") == ERROR_TOLERANCE


def test_a_rise_within_the_stock_voice_s_own_noise_keeps_the_move() -> None:
    def emotion_at(pace: float, noisy_stock: bool) -> dict[str, Any]:
        simulated = Simulated()
        # the last word of each sentence is misheard 10 % faster than the main voice, and
        # (noisy_stock) when the stock voice speaks a little slower than its own pace
        slower = BASE_PACE * NOISE_SPEED ** SPEED_RESPONSE
        simulated.misses = lambda said: (said > 1.1 * BASE_PACE
                                         or noisy_stock and said <= slower + 1e-6)
        guard = Guard(simulated.speak, simulated.hear, ("en",))
        main = simulated.say(24, BASE_PACE, 150.0)
        base = guard.protect_voice(base_voice(main, guard.clip_pace(main, RATE)[0]),
                                   base_voice(main, 0.0), "stock")
        clip = simulated.say(24, BASE_PACE * pace, 150.0)
        checked: dict[str, Any] = enrol(None, clip, RATE, base=base,
                                        guard=guard).info["intelligibility"]
        return checked

    # two words of 32 (6.2 points) above a stock voice heard as well at 0.93 of its pace
    tight = emotion_at(1.2, noisy_stock=False)
    assert tight["stock_noise"] == {"en": 0.0}
    assert tight["tolerance"] == {"en": pytest.approx(1 / 32, abs=0.001)}
    assert tight["shrink"] == {"pace": 0.5, "pitch": 1.0}
    assert tight["error"]["en"] <= tight["stock_error"]["en"] + tight["tolerance"]["en"]
    assert 1.05 < tight["pace_ratio"] < 1.1
    # the same rise is no more than the stock voice's own errors move by: the move stays
    noisy = emotion_at(1.2, noisy_stock=True)
    assert noisy["stock_noise"] == {"en": pytest.approx(2 / 32, abs=0.0001)}
    # the stock voice's error: the mean of its two hearings (none misheard, then two)
    assert noisy["stock_error"] == {"en": pytest.approx(1 / 32, abs=0.0001)}
    assert noisy["tolerance"] == {"en": pytest.approx(2 / 32, abs=0.001)}
    assert noisy["shrink"] == {"pace": 1.0, "pitch": 1.0}
    assert noisy["error"]["en"] == pytest.approx(2 / 32, abs=0.0001)
    assert noisy["pace_ratio"] == pytest.approx(1.2, rel=0.05)


def test_a_main_voice_harder_to_understand_than_stock_moves_toward_stock(
        world: tuple[Simulated, Guard]) -> None:
    simulated, guard = world
    main = simulated.say(24, 4.0, 150.0)
    stock = base_voice(main, 0.0)
    rng = np.random.default_rng(0)
    matched = VoiceState("kokoro", arrays={
        "style": rng.normal(size=(510, 1, 256)).astype(np.float32),
        "eq": np.full(40, 6.0, np.float32)},
        info={**stock.info, "pitch_shift": 0.4})
    checked = guard.protect_voice(matched, stock, "stock")
    record = checked.info["intelligibility"]
    # 224 Hz is too high for the listener, and so is 0.6 of the way (191 Hz)
    assert record["shrink"] == {"voice": 0.3}
    assert record["error"]["en"] <= record["stock_error"]["en"] + ERROR_TOLERANCE
    assert checked.info["pitch_shift"] == pytest.approx(0.12)
    assert np.allclose(checked.arrays["style"], 0.3 * matched.arrays["style"])
    assert np.allclose(checked.arrays["eq"], 1.8)
    assert checked.info["guard_measure"]["pace"] == pytest.approx(BASE_PACE, rel=0.1)
    assert np.allclose(shrink_voice(matched, stock, 0.0).arrays["style"], 0.0)


def test_the_group_s_details_show_each_emotion_s_check(settings: Any,
                                                       runners: Any) -> None:
    class CheckedMatcher(ClipMatcher):
        def __call__(self, *args: Any, **kwargs: Any) -> VoiceState:
            state = super().__call__(*args, **kwargs)
            shrink = 0.5 if kwargs.get("base") is not None else 1.0
            check = {"error": {"en": 0.05, "zh": 0.1}, "stock_error": {"en": 0.04, "zh": 0.1},
                     "shrink": {"pace": shrink, "pitch": 1.0}}
            return VoiceState(state.engine, state.arrays,
                              {**state.info, "intelligibility": check})

    library, jobs = open_library(settings, CheckedMatcher(), runners)
    upload(library, settings, "Hero", good_zip("Hero"))
    assert jobs.wait("Hero", timeout=10)
    checks = library.details("Hero")["enrolment"]["intelligibility"]
    assert sorted(checks) == ["B1_B2", "B3_B4", "B5_orgasm", "greeting"]
    assert checks["greeting"]["shrink"]["pace"] == 1.0
    assert checks["B3_B4"]["shrink"]["pace"] == 0.5
    assert checks["B3_B4"]["error"] == {"en": 0.05, "zh": 0.1}


def test_pace_leaves_out_the_silence_before_and_after_speech() -> None:
    speech = syllables(3.0, 150.0, 4.0)
    for pad in (0.05, 0.2, 0.6):
        quiet = np.zeros(int(pad * RATE), np.float32)
        padded = np.concatenate([quiet, speech, quiet])
        assert speaking_seconds(padded, RATE) == pytest.approx(speaking_seconds(speech, RATE),
                                                               abs=0.03)
    assert speaking_seconds(speech, RATE) == pytest.approx(3.0, abs=0.15)
