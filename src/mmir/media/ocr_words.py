"""The searchable words of an OCR line: folded like all other text, with words read without spaces split apart.

PP-OCR's recogniser often drops the spaces of signs set in capitals (``WELCOMETO``, ``ALARMWILL``,
``OMNIHOTELS``); a query for ``hotels`` would then never meet the stored token ``omnihotels``. So each line is
indexed as

* the line folded by the shared tokeniser (:func:`mmir.concepts.tokens.fold`: NFKC, in-word apostrophes dropped,
  letters and digits apart: ``HR37C`` → ``HR 37 C``, ``you'll`` → ``youll``), as queries are folded; then
* for every run of 6+ letters, the English words it splits into by word frequency (``wordninja``: Wikipedia
  unigram costs, ``ALARMWILL`` → ``ALARM WILL``), kept *beside* the run itself (a name such as ``erdgas`` is
  not lost when the splitter guesses ``erd gas``). Pieces of one letter are dropped.

On the benchmark's validation photos the split words raised the share of one-photo words found from 0.49 to
0.56 (``benchmarks/visible_text.py``). Without ``wordninja`` (the ``ocr`` extra) lines are only folded.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.util import find_spec
from typing import Any

from mmir.concepts.tokens import fold

MIN_RUN = 6  # shorter runs are mostly real words already ("DOORIS" is 6)
_LETTERS = re.compile(r"[^\W\d_]+")


def searchable(line: str) -> str:
    """``line`` folded, followed by the split words of its long letter runs (``"ALARMWILL"`` →
    ``"ALARMWILL ALARM WILL"``)."""
    folded = fold(line)
    extra: list[str] = []
    splitter = _splitter()
    if splitter is not None:
        for run in _LETTERS.findall(folded):
            if len(run) >= MIN_RUN and run.isascii():  # the splitter knows English words only
                parts = [p for p in splitter.split(run) if len(p) >= 2]
                if len(parts) > 1:
                    extra.extend(parts)
    return f"{folded} {' '.join(extra)}" if extra else folded


@cache
def _splitter() -> Any:
    """The ``wordninja`` module (its word costs load once, ~0.3 s), or ``None`` when it is not installed."""
    if find_spec("wordninja") is None:
        return None
    import wordninja

    return wordninja
