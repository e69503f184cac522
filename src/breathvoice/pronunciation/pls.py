"""W3C Pronunciation Lexicon (PLS) files: read them safely, write them back.

A PLS file is untrusted input. It is refused with InvalidRequest before parsing when it is
larger than its cap, and by the parser (defusedxml, with DTDs forbidden) when it declares a
DTD at all, so entity bombs ("billion laughs") and external entities never expand. Then
each ``<lexeme>`` gives one rule per ``<grapheme>``: its first ``<alias>`` or
``<phoneme>`` (the lexicon's ``alphabet`` unless the phoneme names its own). A rule count
over the cap is refused too.

PLS has no case or word-boundary options: rules read from PLS match case and whole words
(as ElevenLabs reads them), unless the lexeme carries ``bv:case-sensitive="false"`` or
``bv:word-boundaries="false"`` in this project's namespace, which :func:`to_pls` writes
for such rules so a dictionary survives a round trip.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import defusedxml
from defusedxml.ElementTree import fromstring

from breathvoice.errors import InvalidRequest
from breathvoice.pronunciation.rules import Rule, alias_rule, phoneme_rule

PLS_NS = "http://www.w3.org/2005/01/pronunciation-lexicon"
BV_NS = "urn:breathvoice:pronunciation"
XML_NS = "http://www.w3.org/XML/1998/namespace"
_PLS_ALPHABETS = {"x-cmu-arpabet": "cmu-arpabet", "x-pinyin": "pinyin", "x-kokoro": "kokoro"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _alphabet(value: str | None) -> str:
    name = (value or "ipa").strip().lower()
    return _PLS_ALPHABETS.get(name, name)


def _option(lexeme: Element, name: str) -> bool:
    value = lexeme.get(f"{{{BV_NS}}}{name}")
    return value is None or value.strip().lower() not in ("false", "0", "no")


def parse_pls(data: bytes, *, max_bytes: int, max_rules: int) -> list[Rule]:
    """The rules of a PLS document; InvalidRequest (400) for anything unsafe or malformed."""
    if len(data) > max_bytes:
        raise InvalidRequest(f"the PLS file is larger than {max_bytes} bytes")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden as exc:
        raise InvalidRequest("the PLS file declares a DTD; entities are not accepted") from exc
    except defusedxml.DefusedXmlException as exc:
        raise InvalidRequest("the PLS file uses entities or external references, "
                             "which are not accepted") from exc
    except (ParseError, ValueError) as exc:
        raise InvalidRequest("the file is not well-formed XML") from exc
    if _local(root.tag) != "lexicon":
        raise InvalidRequest("a PLS file's root element must be <lexicon>")
    default_alphabet = _alphabet(root.get("alphabet"))
    rules: list[Rule] = []
    for lexeme in root:
        if _local(lexeme.tag) != "lexeme":
            continue
        graphemes = [(child.text or "") for child in lexeme if _local(child.tag) == "grapheme"]
        readings = [child for child in lexeme if _local(child.tag) in ("alias", "phoneme")]
        if not graphemes or not readings:
            raise InvalidRequest("every <lexeme> needs a <grapheme> and an <alias> or <phoneme>")
        reading = readings[0]
        case, words = _option(lexeme, "case-sensitive"), _option(lexeme, "word-boundaries")
        for grapheme in graphemes:
            if _local(reading.tag) == "alias":
                rules.append(alias_rule(grapheme, reading.text, case, words))
            else:
                alphabet = _alphabet(reading.get("alphabet") or default_alphabet)
                rules.append(phoneme_rule(grapheme, reading.text, alphabet, case, words))
            if len(rules) > max_rules:
                raise InvalidRequest(f"the PLS file holds more than {max_rules} rules")
    if not rules:
        raise InvalidRequest("the PLS file holds no <lexeme>")
    return rules


def to_pls(rules: list[Rule], language: str = "en-US") -> bytes:
    """A PLS document holding ``rules``, one lexeme each."""
    root = Element("lexicon", {
        "version": "1.0", "xmlns": PLS_NS, "xmlns:bv": BV_NS, "alphabet": "ipa",
        "xml:lang": language,
    })
    for rule in rules:
        attributes = {}
        if not rule.case_sensitive:
            attributes["bv:case-sensitive"] = "false"
        if not rule.word_boundaries:
            attributes["bv:word-boundaries"] = "false"
        lexeme = SubElement(root, "lexeme", attributes)
        SubElement(lexeme, "grapheme").text = rule.string_to_replace
        if rule.type == "alias":
            SubElement(lexeme, "alias").text = rule.alias
        else:
            alphabet = rule.alphabet or "ipa"
            shown = alphabet if alphabet == "ipa" else f"x-{alphabet}"
            SubElement(lexeme, "phoneme", {"alphabet": shown}).text = rule.phoneme
    body: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return body
