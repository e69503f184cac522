"""A context's audio buffer: unbounded by default, or bounded with the oldest dropped."""

from __future__ import annotations

from collections import deque
from typing import Deque, List, Optional


class AudioBuffer:
    """Keeps audio chunks; with ``max_bytes`` it keeps the newest chunks that fit."""

    def __init__(self, max_bytes: Optional[int] = None) -> None:
        if max_bytes is not None and max_bytes < 0:
            raise ValueError("max_buffer_bytes must be >= 0 or None")
        self.max_bytes = max_bytes
        self.dropped_bytes = 0
        self._chunks: Deque[bytes] = deque()
        self._size = 0

    def append(self, chunk: bytes) -> None:
        limit = self.max_bytes
        if limit is not None and len(chunk) > limit:
            self.dropped_bytes += len(chunk)
            return
        self._chunks.append(chunk)
        self._size += len(chunk)
        while limit is not None and self._size > limit:
            oldest = self._chunks.popleft()
            self._size -= len(oldest)
            self.dropped_bytes += len(oldest)

    def chunks(self) -> List[bytes]:
        return list(self._chunks)

    def join(self) -> bytes:
        return b"".join(self._chunks)

    def clear(self) -> None:
        self._chunks.clear()
        self._size = 0

    def __len__(self) -> int:
        return self._size
