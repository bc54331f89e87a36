"""Bounded readers for untrusted metadata text: JSON strings and XMP fields.

A sidecar or an embedded packet is written by anyone, so each reader here has hard limits: linear time (no
backtracking pattern ever runs over the text; delimiters are found with ``bytes.find``), bounded nesting (checked
before or while parsing, never by recursion), bounded size, and a deadline. A reader that hits a limit raises
:class:`MetadataRefused` naming the limit; the caller drops that source's text with a one-line note.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

MAX_NESTING = 64  # JSON arrays/objects or XML elements: real captions and XMP packets nest < 12 levels
MAX_XMP_BYTES = 1 << 20
_CHECK_EVERY = 4096  # tokens between deadline checks

_XMP_OPEN, _XMP_CLOSE = b"<x:xmpmeta", b"</x:xmpmeta>"
# One token at a time, each alternative of fixed length: the search is linear, whatever the text.
_JSON_TOKEN = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


class MetadataRefused(ValueError):
    """A metadata source broke a limit (nesting, size, time); its text is dropped, the file is kept."""


def _check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise MetadataRefused("over the per-file time budget")


def json_nesting(text: str, deadline: float = float("inf")) -> int:
    """Deepest nesting of arrays/objects in ``text`` (brackets inside strings ignored), in one linear pass.

    Stops counting once past :data:`MAX_NESTING` (the answer is then ``MAX_NESTING + 1``).
    """
    depth = deepest = 0
    in_string = False
    for count, match in enumerate(_JSON_TOKEN.finditer(text)):
        if count % _CHECK_EVERY == 0:
            _check_deadline(deadline)
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif not in_string and len(token) == 1:
            depth += 1 if token in "[{" else -1
            deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                break
    return deepest


def json_strings(text: str, deadline: float = float("inf")) -> Iterator[str]:
    """The string values of a JSON document (not its keys), in document order.

    Raises:
        MetadataRefused: nested deeper than :data:`MAX_NESTING`, or past ``deadline``.
        ValueError: not JSON.
    """
    if json_nesting(text, deadline) > MAX_NESTING:
        raise MetadataRefused(f"JSON nested deeper than {MAX_NESTING} levels")
    stack: list[Any] = [json.loads(text)]  # safe now: the C parser recurses at most MAX_NESTING levels
    while stack:  # iterative walk, values in document order
        value = stack.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            stack.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend(reversed(value))


def xmp_packet(data: bytes) -> bytes | None:
    """The first complete ``<x:xmpmeta …>…</x:xmpmeta>`` packet of ``data``, found in linear time.

    The packet ends at the first closing tag and starts at the last opening tag before it, so stray opening
    tags (a hostile file repeats them by the thousand) cost one ``find`` each way, not a scan per tag.

    Raises:
        MetadataRefused: the packet is over :data:`MAX_XMP_BYTES`.
    """
    end = data.find(_XMP_CLOSE)
    if end < 0:
        return None
    start = data.rfind(_XMP_OPEN, 0, end)
    if start < 0:
        return None
    if end - start > MAX_XMP_BYTES:
        raise MetadataRefused(f"XMP packet over {MAX_XMP_BYTES} bytes")
    return data[start : end + len(_XMP_CLOSE)]


def xml_elements(packet: bytes, deadline: float = float("inf")) -> Iterator[tuple[str, list[str], dict[str, str]]]:
    """``(local tag, texts, attributes)`` of each element of an XML packet, as it closes.

    Parsed by ``defusedxml`` (no DTDs, entities or external references, so no expansion bombs), with nesting
    checked on every opening tag.

    Raises:
        MetadataRefused: nested deeper than :data:`MAX_NESTING`, a DTD or entity, or past ``deadline``.
        xml.etree.ElementTree.ParseError: not well-formed XML.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    depth = 0
    try:
        events = iterparse(io.BytesIO(packet), events=("start", "end"), forbid_dtd=True)
        for count, (event, element) in enumerate(events):
            if count % _CHECK_EVERY == 0:
                _check_deadline(deadline)
            if event == "start":
                depth += 1
                if depth > MAX_NESTING:
                    raise MetadataRefused(f"XML nested deeper than {MAX_NESTING} levels")
                continue
            depth -= 1
            local = element.tag.rpartition("}")[2]
            attributes = {key.rpartition("}")[2]: value for key, value in element.attrib.items()}
            yield local, [t for t in element.itertext() if t.strip()], attributes
    except DefusedXmlException as exc:
        raise MetadataRefused(f"XML with a DTD or entities ({type(exc).__name__})") from exc
