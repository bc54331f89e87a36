"""One tokeniser for file text and query text, so that names, tags and queries meet.

Both sides go through :func:`fold` (the form the metadata text is stored in for SQLite FTS5) and :func:`words`
(the query's words): Unicode NFKC (fullwidth ``ｄｏｇ`` → ``dog``, ligatures, superscripts), apostrophes inside a
word dropped (``dad's`` → ``dads``) and dotted abbreviations joined (``U.S.`` → ``us``), every other
non-letter/digit character a separator (``flamingo,parade`` → two words; ``IMG_2031`` → ``img 2031``), and a
boundary between letters and digits a separator too (``Paris2019.jpg`` → ``paris 2019 jpg``, ``img2031`` →
``img 2031``), so a query for ``img2031`` finds ``IMG_2031.jpg`` and ``Paris2019`` finds ``Paris2019.jpg``.
WordNet's lemmas in the bundled data file are normalised by the same rules (``scripts/build_concept_hierarchy.py``).

FTS5's ``unicode61`` tokenizer then splits, lower-cases and strips diacritics on both sides alike: the stored
text is ``fold(text)`` and each query word is handed to FTS5 as a quoted string.
"""

from __future__ import annotations

import re
import unicodedata

# Apostrophe-like marks between letters join the letters ("dad's" → "dads", "o’clock" → "oclock").
_APOSTROPHE = re.compile(r"(?<=\w)['’‘ʼ`´](?=\w)")
# Dotted abbreviations join ("U.S." → "US", "W.C." → "WC"), as WordNet writes both forms of the same lemma.
_DOTTED = re.compile(r"(?<![^\W_])(?:[^\W\d_]\.){2,}")
# A letter followed by a digit, or a digit followed by a letter ([^\W\d_] is "a letter": \w minus digits and _).
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_WORD = re.compile(r"[^\W_]+")  # letters and digits; "_" and everything else separate words


def fold(text: str) -> str:
    """``text`` in NFKC with in-word apostrophes dropped and letter/digit boundaries spaced (case and punctuation kept).

    This is what the metadata text is stored as, so that FTS5 splits ``Paris2019.jpg`` into ``paris 2019 jpg``.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _DOTTED.sub(lambda match: match.group().replace(".", "") + " ", text)
    return _LETTER_DIGIT.sub(" ", _APOSTROPHE.sub("", text))


def words(text: str) -> list[str]:
    """The lower-case words of ``text`` (see the module docstring); empty for only symbols, emoji or spaces."""
    return _WORD.findall(fold(text).lower())


def split_letters_digits(word: str) -> str:
    """``word`` with a space at each letter/digit boundary (``"4wd"`` → ``"4 wd"``); other characters kept."""
    return _LETTER_DIGIT.sub(" ", word)
