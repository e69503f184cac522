"""The rules one synthesis applies: the request's dictionaries, then its voice group's.

Priority, first wins: the dictionaries the request names (in its order), then those the
group names in its manifest, then the group's own ``pronunciation.pls``. What that
compiles to is kept by the exact versions it was made of, so a new version is picked up
at once and an unchanged set is never compiled twice. Blocking: call off the event loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from breathvoice.pronunciation.lexicon import Lexicon, combine
from breathvoice.pronunciation.pls import parse_pls
from breathvoice.pronunciation.store import Locator, PronunciationStore
from breathvoice.settings import Settings
from breathvoice.voices.library import VoiceLibrary

_CACHED = 128
_Key = tuple[tuple[str, str], ...]


class PronunciationService:
    def __init__(self, store: PronunciationStore, library: VoiceLibrary,
                 settings: Settings) -> None:
        self.store = store
        self.library = library
        self.settings = settings
        self._cache: OrderedDict[_Key, Lexicon | None] = OrderedDict()
        self._lock = threading.Lock()

    def group_locators(self, voice_group_id: str) -> tuple[Locator, ...]:
        manifest = self.library.manifest(voice_group_id)
        return tuple(Locator(ref.pronunciation_dictionary_id, ref.version_id)
                     for ref in manifest.pronunciation_dictionaries)

    def lexicon(self, voice_group_id: str | None,
                locators: Sequence[Locator] = ()) -> Lexicon | None:
        """The compiled rules for a request naming ``locators`` with this group (if any)."""
        named = list(locators)
        pls: Path | None = None
        if voice_group_id:
            named += self.group_locators(voice_group_id)
            pls = self.library.pronunciation_file(voice_group_id)
        pinned = [(locator.dictionary_id,
                   locator.version_id or self.store.get(locator.dictionary_id).version_id)
                  for locator in named]
        key: _Key = tuple(pinned)
        if pls is not None:
            stat = pls.stat()
            key += ((str(pls), f"{stat.st_mtime_ns}:{stat.st_size}"),)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        parts: list[Lexicon | None] = [self.store.lexicon([Locator(*pin)])
                                       for pin in dict.fromkeys(pinned)]
        if pls is not None:
            rules = parse_pls(pls.read_bytes(), max_bytes=self.settings.max_pls_bytes,
                              max_rules=self.settings.max_dictionary_rules)
            parts.append(Lexicon(rules, f"{voice_group_id}/{pls.name}"))
        result = combine(parts)
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > _CACHED:
                self._cache.popitem(last=False)
        return result
