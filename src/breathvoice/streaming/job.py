"""One text the scheduler speaks, and how a background one resumes after being paused.

A live job keeps one engine generator from its first chunk to its last. A background job
(a script line) may be paused while it runs, so live work never waits behind it: its
running model call is aborted through the job's *attempt* token (not its own token, which
means "nobody wants this any more"), the chunk that was being made is dropped, and the job
goes back in the queue. It resumes from the end of the last chunk it delivered, so every
chunk is delivered once, in order, and the line comes out whole.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field

from breathvoice.engines.base import AudioChunk, CancelToken, SynthesisOptions, VoiceState

ChunkCallback = Callable[[AudioChunk], None]
DoneCallback = Callable[[BaseException | None], None]


@dataclass(eq=False)
class Job:
    """One text to speak. Cancel it with :meth:`cancel`; ``on_done`` is called exactly once."""

    owner: Hashable
    text: str
    voice: VoiceState
    options: SynthesisOptions
    on_chunk: ChunkCallback
    on_done: DoneCallback
    seq: int
    token: CancelToken
    chunks_sent: int = 0
    last_served: float = 0.0
    started_saturated: bool = False
    background: bool = False
    resume_at: int = 0
    """Where in ``text`` the next engine call starts (after a pause)."""
    resumable: bool = True
    """Every chunk so far was a slice of ``text``, so the job can resume where it stopped."""
    attempt: CancelToken | None = None
    """Aborts the running engine call of a background job without cancelling the job."""
    pausing: bool = False
    """Live work asked for this job's worker; it goes back to the queue."""
    _iterator: Iterator[AudioChunk] | None = field(default=None, repr=False)
    _finished: bool = False

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    @property
    def paused(self) -> bool:
        """The running engine call was aborted to free the worker, not cancelled."""
        return self.attempt is not None and self.attempt.cancelled and not self.cancelled

    def new_attempt(self) -> CancelToken:
        """A token for the next engine call, cancelled with the job."""
        attempt = CancelToken()
        self.attempt = attempt
        self.token.on_cancel(attempt.cancel)
        return attempt

    def end_attempt(self) -> None:
        if self.attempt is not None:
            self.token.remove(self.attempt.cancel)
            self.attempt = None

    def advance(self, chunk: AudioChunk) -> None:
        """Note what ``chunk`` spoke, so a paused job resumes after it."""
        found = self.text.find(chunk.text, self.resume_at) if chunk.text else -1
        if found < 0:
            self.resumable = False
        else:
            self.resume_at = found + len(chunk.text)

    @property
    def rest(self) -> str:
        return self.text[self.resume_at:]

    @property
    def rest_is_spoken(self) -> bool:
        """Nothing left to say after a pause (only marks or spaces remain)."""
        return self.chunks_sent > 0 and not any(char.isalnum() for char in self.rest)
