"""The voice groups as last read from disk: each one's manifest and the voice states loaded.

An entry is keyed by its manifest file's (inode, mtime, size, ctime), looked at on every
access, so a manifest rewritten in place or a group swapped in whole is read again, and
the voice states loaded for the old one go with it. This holds for changes made by another
process or node on a shared data dir too: nothing answers from a manifest older than the
file (the ctime catches even a copy that kept the old size and mtime, as ``cp -p`` does).

A voice state comes from the conditioning file its reference names; one that is missing,
damaged or made by another engine is computed again (from the stock voice it stands for,
else from the clip) and kept on disk when the folder can be written.

Not thread-safe: :class:`~breathvoice.voices.library.VoiceLibrary` calls it under its disk
lock, which also keeps group folders from being swapped meanwhile.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from breathvoice.audio.decode import decode_audio
from breathvoice.engines.base import Engine, VoiceState
from breathvoice.errors import EngineError, InvalidRequest, VoiceGroupNotFound
from breathvoice.voices.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    load_manifest,
    save_manifest,
    utc_now,
)
from breathvoice.voices.manifest_records import CONDITIONING_DIR, Conditioning, Reference

log = logging.getLogger(__name__)

_ABSENT = (0, 0, 0, 0)


@dataclass
class CachedGroup:
    key: tuple[int, int, int, int]
    """The manifest file's (inode, mtime in ns, size, ctime in ns) when it was read."""
    manifest: Manifest | None
    """None: the folder holds no usable group."""
    states: dict[str, VoiceState] = field(default_factory=dict)
    """Voice states loaded so far, by emotion."""


class GroupCache:
    """Manifests and voice states of the groups under ``root``, read again when they change."""

    def __init__(self, root: Path, engine: Engine) -> None:
        self.root = root
        self.engine = engine
        self._entries: dict[str, CachedGroup] = {}

    def entry(self, voice_group_id: str) -> CachedGroup:
        """The group as its folder holds it now (``voice_group_id`` must be a valid id)."""
        path = self.root / voice_group_id / MANIFEST_NAME
        try:
            st = path.stat()
            key = (st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns)
        except OSError:
            key = _ABSENT
        entry = self._entries.get(voice_group_id)
        if entry is not None and entry.key == key:
            return entry
        if key == _ABSENT and not path.parent.is_dir():
            # Not cached: callers may ask about any number of names that do not exist.
            self._entries.pop(voice_group_id, None)
            return CachedGroup(key, None)
        manifest: Manifest | None = None
        try:
            manifest = load_manifest(path.parent)
        except ManifestError as exc:
            log.warning("voice group %r is unusable and skipped: %s", voice_group_id, exc)
        entry = CachedGroup(key, manifest)
        self._entries[voice_group_id] = entry
        return entry

    def manifest(self, voice_group_id: str) -> Manifest:
        manifest = self.entry(voice_group_id).manifest
        if manifest is None:
            raise VoiceGroupNotFound(voice_group_id)
        return manifest

    def forget(self, voice_group_id: str) -> None:
        """Drop what is kept of a group whose folder was just swapped or removed."""
        self._entries.pop(voice_group_id, None)

    def voice_state(self, voice_group_id: str, emotion: str) -> VoiceState:
        """The state that speaks ``emotion`` of a usable group, loaded once per manifest."""
        entry = self.entry(voice_group_id)
        state = entry.states.get(emotion)
        if state is not None:
            return state
        assert entry.manifest is not None
        reference = entry.manifest.references[emotion]
        npz = self.root / voice_group_id / reference.conditioning.file
        try:
            state = VoiceState.load(npz)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("voice group %r: no usable conditioning for %r (%s); recomputing",
                        voice_group_id, emotion, type(exc).__name__)
        if state is None or state.engine != self.engine.name:
            state = self._recondition(voice_group_id, emotion, reference)
            entry = self.entry(voice_group_id)
        entry.states[emotion] = state
        return state

    def _recondition(self, voice_group_id: str, emotion: str, reference: Reference) -> VoiceState:
        """Compute the conditioning again (missing, damaged, or made by another engine)."""
        folder = self.root / voice_group_id
        stock_name = reference.conditioning.stock_voice
        stock = self.engine.stock_voices() if reference.conditioning.method == "stock" else {}
        if stock_name is not None and stock_name in stock:
            state = stock[stock_name]
            state = VoiceState(state.engine, state.arrays,
                               {**state.info, "method": "stock", "stock_voice": stock_name})
        else:
            try:
                samples, rate = decode_audio(folder / reference.file)
                state = self.engine.prepare_voice(samples, rate)
            except (OSError, InvalidRequest) as exc:
                log.error("voice group %r: reference %r unusable: %s",
                          voice_group_id, reference.file, exc)
                raise EngineError(f"the '{emotion}' reference of voice group "
                                  f"'{voice_group_id}' cannot be read") from exc
        manifest = self.manifest(voice_group_id)
        # a matched state made for another engine stays on disk for when that engine is back
        file = f"{CONDITIONING_DIR}/{emotion}.npz"
        updated = reference.model_copy(
            update={"conditioning": Conditioning.from_state(state, file)})
        try:  # keeping it is an optimisation: a read-only library still works
            (folder / CONDITIONING_DIR).mkdir(exist_ok=True)
            state.save(folder / file)
            save_manifest(folder, manifest.model_copy(update={
                "references": {**manifest.references, emotion: updated}, "updated_at": utc_now(),
            }))
        except OSError as exc:
            log.warning("voice group %r: cannot keep recomputed conditioning: %s",
                        voice_group_id, exc.strerror)
        return state
