"""A single-use token may not create or change pronunciation dictionaries (403), whatever
key minted it; the dictionaries stay as they were."""

from __future__ import annotations

import pytest

from breathvoice.keys import KeyStore
from security.conftest import Secured
from security.test_sec_token_scope import mint

BASE = "/v1/pronunciation-dictionaries"
RULES = [{"type": "alias", "string_to_replace": "ACME", "alias": "apple"}]
PLS = (b'<?xml version="1.0"?><lexicon version="1.0" '
       b'xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"><lexeme>'
       b"<grapheme>ACME</grapheme><alias>apple</alias></lexeme></lexicon>")


@pytest.mark.parametrize("scope", ["admin", "synthesize"])
def test_a_token_cannot_write_dictionaries(secured: Secured, key_store: KeyStore,
                                           scope: str) -> None:
    key, _ = key_store.create(scope)  # type: ignore[arg-type]
    with secured() as client:
        made = client.post(f"{BASE}/add-from-rules", headers={"xi-api-key": key},
                           json={"name": "names", "rules": RULES})
        assert made.status_code == 200, made.text
        dictionary = made.json()["id"]
        attempts = [
            ("post", f"{BASE}/add-from-rules", {"json": {"name": "x", "rules": RULES}}),
            ("post", f"{BASE}/add-from-file",
             {"data": {"name": "x"}, "files": {"file": ("d.pls", PLS, "application/pls+xml")}}),
            ("post", f"{BASE}/{dictionary}/add-rules", {"json": {"rules": RULES}}),
            ("post", f"{BASE}/{dictionary}/remove-rules", {"json": {"rule_strings": ["ACME"]}}),
            ("post", f"{BASE}/{dictionary}/set-rules", {"json": {"rules": []}}),
        ]
        for method, path, kwargs in attempts:
            response = client.request(method, path, params={"token": mint(client, key)},
                                      **kwargs)
            assert response.status_code == 403, (path, response.text)
        listed = client.get(BASE, headers={"xi-api-key": key}).json()
        assert [d["latest_version_rules_num"] for d in listed["pronunciation_dictionaries"]] == [1]
        assert listed["pronunciation_dictionaries"][0]["latest_version_id"] == made.json()[
            "version_id"]
