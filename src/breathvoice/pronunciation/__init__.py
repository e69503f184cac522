"""Pronunciation dictionaries: rules that say how names, brands and polyphones are read.

- :mod:`.rules`: the rules (``alias``, ``phoneme`` in ``ipa``, ``cmu-arpabet``, ``pinyin``
  or the engine's own phonemes) and their checks;
- :mod:`.automaton`, :mod:`.lexicon`: where a set of rules matches in a text;
- :mod:`.pls`: W3C PLS files in and out, parsed with entity expansion forbidden;
- :mod:`.store`: dictionaries and their versions in the database;
- :mod:`.service`: the rules one request applies (its own dictionaries, then its voice
  group's).

Engines apply a :class:`~.lexicon.Lexicon` while turning text into phonemes (the embedded
engine: :mod:`breathvoice.engines.kokoro.lexicon`).
"""
