"""Dictionaries in the database: every change of rules is a new, immutable version.

A version's rules never change once written, so what a version compiles to
(:class:`~breathvoice.pronunciation.lexicon.Lexicon`) is kept in memory by its id.
All methods block: call them off the event loop.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from breathvoice.db import pronunciation_dictionaries as dictionaries
from breathvoice.db import pronunciation_versions as versions
from breathvoice.errors import DictionaryNotFound, InvalidRequest
from breathvoice.pronunciation.lexicon import Lexicon, combine
from breathvoice.pronunciation.rules import Rule

MAX_LOCATORS = 3
_CACHED_LEXICONS = 256


@dataclass(frozen=True)
class Locator:
    """A dictionary and one of its versions (None: the latest)."""

    dictionary_id: str
    version_id: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Locator:
        if not isinstance(data, dict) or not isinstance(
                data.get("pronunciation_dictionary_id"), str):
            raise InvalidRequest("a pronunciation dictionary locator needs "
                                 "'pronunciation_dictionary_id'")
        version = data.get("version_id")
        if version is not None and not isinstance(version, str):
            raise InvalidRequest("a locator's version_id must be a string")
        return cls(data["pronunciation_dictionary_id"], version or None)


def locators_of(items: Any) -> tuple[Locator, ...]:
    """Checked locators of a request (at most three, as ElevenLabs allows)."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise InvalidRequest("pronunciation_dictionary_locators must be a list")
    if len(items) > MAX_LOCATORS:
        raise InvalidRequest(f"at most {MAX_LOCATORS} pronunciation dictionaries per request")
    return tuple(Locator.from_json(item) for item in items)


@dataclass(frozen=True)
class Dictionary:
    """A dictionary with its latest version's rules."""

    id: str
    name: str
    description: str | None
    created_by: str
    created_at: float
    version_id: str
    rules: tuple[Rule, ...]

    def metadata(self) -> dict[str, Any]:
        """ElevenLabs' dictionary metadata object."""
        return {"id": self.id, "name": self.name, "description": self.description,
                "created_by": self.created_by, "creation_time_unix": int(self.created_at),
                "latest_version_id": self.version_id,
                "latest_version_rules_num": len(self.rules),
                "permission_on_resource": "admin", "archived_time_unix": None}


class PronunciationStore:
    def __init__(self, db: Engine, max_rules: int) -> None:
        self.db = db
        self.max_rules = max_rules
        self._write = threading.Lock()
        self._lexicons: OrderedDict[tuple[str, str], Lexicon] = OrderedDict()
        self._cache_lock = threading.Lock()

    def create(self, name: str, description: str | None, rules: Sequence[Rule],
               created_by: str) -> Dictionary:
        self._check_size(rules)
        dictionary_id, now = uuid.uuid4().hex, time.time()
        version_id = uuid.uuid4().hex
        with self._write, self.db.begin() as conn:
            conn.execute(insert(dictionaries).values(
                id=dictionary_id, name=name, description=description, created_by=created_by,
                created_at=now, latest_version_id=version_id, latest_rules=len(rules)))
            self._add_version(conn, dictionary_id, version_id, 1, rules, now)
        return self.get(dictionary_id)

    def get(self, dictionary_id: str) -> Dictionary:
        with self.db.connect() as conn:
            row = conn.execute(select(dictionaries).where(
                dictionaries.c.id == dictionary_id)).mappings().first()
            if row is None:
                raise DictionaryNotFound(
                    f"pronunciation dictionary '{dictionary_id[:64]}' not found")
            rules = self._rules(conn, dictionary_id, row["latest_version_id"])
        return Dictionary(row["id"], row["name"], row["description"], row["created_by"],
                          row["created_at"], row["latest_version_id"], rules)

    def page(self, offset: int, limit: int) -> tuple[list[Dictionary], bool]:
        """A page of dictionaries, newest first, and whether more follow."""
        query = (select(dictionaries.c.id).order_by(dictionaries.c.created_at.desc(),
                                                    dictionaries.c.id)
                 .offset(offset).limit(limit + 1))
        with self.db.connect() as conn:
            ids = list(conn.execute(query).scalars())
        return [self.get(found) for found in ids[:limit]], len(ids) > limit

    def rules(self, dictionary_id: str, version_id: str | None = None) -> tuple[Rule, ...]:
        """The rules of one version (the latest when ``version_id`` is None)."""
        if version_id is None:
            return self.get(dictionary_id).rules
        with self.db.connect() as conn:
            return self._rules(conn, dictionary_id, version_id)

    def change(self, dictionary_id: str,
               edit: Callable[[list[Rule]], list[Rule]]) -> Dictionary:
        """Write ``edit(latest rules)`` as a new version, which becomes the latest."""
        with self._write, self.db.begin() as conn:
            row = conn.execute(select(dictionaries).where(
                dictionaries.c.id == dictionary_id)).mappings().first()
            if row is None:
                raise DictionaryNotFound(
                    f"pronunciation dictionary '{dictionary_id[:64]}' not found")
            current = list(self._rules(conn, dictionary_id, row["latest_version_id"]))
            rules = edit(current)
            self._check_size(rules)
            number = conn.execute(select(versions.c.number).where(
                versions.c.dictionary_id == dictionary_id
            ).order_by(versions.c.number.desc()).limit(1)).scalar_one()
            version_id = uuid.uuid4().hex
            self._add_version(conn, dictionary_id, version_id, number + 1, rules, time.time())
            conn.execute(update(dictionaries).where(dictionaries.c.id == dictionary_id)
                         .values(latest_version_id=version_id, latest_rules=len(rules)))
        return self.get(dictionary_id)

    def lexicon(self, locators: Sequence[Locator]) -> Lexicon | None:
        """The rules of ``locators`` compiled, the first dictionary winning; None if none."""
        parts: list[Lexicon | None] = []
        for locator in locators:
            version_id = locator.version_id or self.get(locator.dictionary_id).version_id
            parts.append(self._compiled(locator.dictionary_id, version_id))
        return combine(list(parts))

    def _compiled(self, dictionary_id: str, version_id: str) -> Lexicon:
        key = (dictionary_id, version_id)
        with self._cache_lock:
            if key in self._lexicons:
                self._lexicons.move_to_end(key)
                return self._lexicons[key]
        lexicon = Lexicon(list(self.rules(dictionary_id, version_id)),
                          f"{dictionary_id}@{version_id}")
        with self._cache_lock:
            self._lexicons[key] = lexicon
            while len(self._lexicons) > _CACHED_LEXICONS:
                self._lexicons.popitem(last=False)
        return lexicon

    def _check_size(self, rules: Sequence[Rule]) -> None:
        if len(rules) > self.max_rules:
            raise InvalidRequest(f"a dictionary holds at most {self.max_rules} rules")

    def _rules(self, conn: Connection, dictionary_id: str, version_id: str) -> tuple[Rule, ...]:
        raw = conn.execute(select(versions.c.rules).where(
            versions.c.dictionary_id == dictionary_id, versions.c.version_id == version_id
        )).scalar_one_or_none()
        if raw is None:
            raise DictionaryNotFound(f"pronunciation dictionary '{dictionary_id[:64]}' has "
                                     f"no version '{version_id[:64]}'")
        return tuple(Rule.from_json(item) for item in json.loads(raw))

    @staticmethod
    def _add_version(conn: Connection, dictionary_id: str, version_id: str, number: int,
                     rules: Sequence[Rule], now: float) -> None:
        conn.execute(insert(versions).values(
            dictionary_id=dictionary_id, version_id=version_id, number=number,
            rules=json.dumps([rule.to_json() for rule in rules], ensure_ascii=False),
            created_at=now))
