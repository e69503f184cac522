"""What the atheris harnesses share: a bounded run and a tiny real engine.

Each harness stops by itself: ``-max_total_time`` defaults to 300 s (override it, or any
other libFuzzer flag, on the command line), and the corpus lives in a temporary folder
unless a folder is given. A harness fails (libFuzzer reports a crash and exits non-zero)
only when the code under test raises something other than a BreathVOICE error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import numpy as np

from breathvoice.engines.base import AudioChunk, SynthesisOptions, VoiceState

DEFAULT_SECONDS = 300


class LevelEngine:
    """Conditioning is the clip's RMS level; speech is silence of the text's length."""

    name = "level"
    sample_rate = 24000

    def prepare_voice(self, reference: np.ndarray, sample_rate: int) -> VoiceState:
        rms = float(np.sqrt(np.mean(np.square(reference)))) if len(reference) else 0.0
        return VoiceState(engine=self.name, arrays={"level": np.array([rms], np.float32)},
                          info={"method": "level"})

    def default_voice(self) -> VoiceState:
        return VoiceState(engine=self.name, arrays={"level": np.array([0.1], np.float32)},
                          info={"method": "stock"})

    def stock_voices(self) -> dict[str, VoiceState]:
        return {"level": self.default_voice()}

    def synthesize(self, text: str, voice: VoiceState,
                   options: SynthesisOptions) -> Iterator[AudioChunk]:
        yield AudioChunk(np.zeros(240 * max(1, len(text)), np.float32), self.sample_rate, text)


def run(test_one_input: Callable[[bytes], None], seeds: list[bytes]) -> None:
    import tempfile

    import atheris

    args = list(sys.argv)
    if not any(a.startswith("-max_total_time") for a in args):
        args.append(f"-max_total_time={DEFAULT_SECONDS}")
    if not any(a.startswith("-rss_limit_mb") for a in args):
        args.append("-rss_limit_mb=3072")
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = tempfile.mkdtemp(prefix="breathvoice-fuzz-")
        for index, seed in enumerate(seeds):
            with open(f"{corpus}/seed{index}", "wb") as handle:
                handle.write(seed)
        args.append(corpus)
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()
