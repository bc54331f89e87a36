"""Query text → normalised tokens (the shared tokeniser, :mod:`mmir.concepts.tokens`), stop-words, noun forms."""

from __future__ import annotations

from mmir.concepts.tokens import words

# Function words that never name something visible; dropped unless inside a multi-word lemma.
STOP_WORDS = frozenset(
    """a an the and or but nor of on in at to for from with without by into onto over under near next
    beside besides behind above below between among around through about against along across up down
    off out this that these those there here some any each every all no not is are was were be been
    being am has have had having do does did it its it's i me my we our you your he him his she her they
    them their who whom which what where when how why photo photos picture pictures image images
    showing shows show""".split()  # noqa: SIM905 (a word block reads better than 100 quoted strings)
)


def normalise(text: str) -> str:
    """The words of ``text`` (:func:`mmir.concepts.tokens.words`: NFKC, lower case, punctuation and letter/digit
    boundaries split, in-word apostrophes dropped) joined by single spaces: ``"St. Bernard's"`` → ``"st bernards"``.
    """
    return " ".join(words(text))


def tokenise(text: str) -> list[str]:
    """The normalised words of ``text`` (stop-words kept: multi-word lemmas may contain them)."""
    return words(text)


# WordNet's detachment rules for nouns (morphy), tried in order after the exception list.
_SUFFIX_RULES = (
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
    ("s", ""),
)


def base_forms(word: str, exceptions: dict[str, str]) -> list[str]:
    """Candidate base forms of a (possibly plural) noun, the word itself first.

    Args:
        word: One normalised token or multi-word phrase; only its last word is inflected.
        exceptions: Irregular plurals (``noun.exc``), e.g. ``"mice" → "mouse"``.
    """
    head, _, last = word.rpartition(" ")
    prefix = f"{head} " if head else ""
    forms = [word]
    if word in exceptions:
        forms.append(exceptions[word])
    if last in exceptions:
        forms.append(prefix + exceptions[last])
    for suffix, replacement in _SUFFIX_RULES:
        if last.endswith(suffix) and len(last) > len(suffix) + 1 and not last.endswith("ss"):
            forms.append(prefix + last[: -len(suffix)] + replacement)
    return list(dict.fromkeys(forms))


def plural_forms(word: str) -> list[str]:
    """Plurals of a singular noun (last word only), for lemmas WordNet lists only in the plural.

    "binocular" → "binoculars" (ImageNet's class is *binoculars*, *field glasses*); tried only after the word and
    its base forms found nothing.
    """
    head, _, last = word.rpartition(" ")
    prefix = f"{head} " if head else ""
    forms = [last + "s", last + "es"]
    if last.endswith("y") and len(last) > 2:
        forms.append(last[:-1] + "ies")
    return [prefix + form for form in forms]
