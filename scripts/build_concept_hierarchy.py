"""Build ``src/mmir/concepts/data/wordnet_imagenet.json.gz`` from the WordNet 3.0 noun database.

Reads the standard database files directly (no NLTK): ``data.noun`` (synsets, lemmas, hypernym pointers),
``index.noun`` (the senses of each lemma, most frequent first), ``cntlist.rev`` (tagged sense counts) and
``noun.exc`` (irregular plurals), plus timm's ImageNet class list, lemmas and definitions. Keeps only what query
mapping needs at run time: lemmas whose senses reach at least one ImageNet class (directly, through hyponyms, or
through a near and narrow hypernym), the synsets they point to, and the classes each synset covers.

The output is deterministic (sorted keys, gzip mtime 0), so the committed file regenerates byte-identically::

    .venv/bin/python scripts/build_concept_hierarchy.py [--wordnet /usr/share/wordnet] [--out PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mmir.concepts.text import normalise

DEFAULT_WORDNET = Path("/usr/share/wordnet")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/mmir/concepts/data/wordnet_imagenet.json.gz"
FORMAT_VERSION = 1
# An uncovered sense borrows classes from a hypernym at most this many steps up ...
MAX_HOPS = 3
# ... and only from a narrow one: "container" (hundreds of classes) says little about "cup".
MAX_HYPERNYM_COVER = 150
# A borrowed hypernym's classes are the sense's visual neighbours, not instances of it: discount per step up,
# and divide among many classes once the hypernym is broad ("puppy" → 118 dogs, "cup" → 100 containers).
HOP_DISCOUNT = 0.5
BROAD_COVER = 20
# Weight of a sense relative to the lemma's strongest: (tagged count + 1/rank), so sense order breaks ties and
# untagged rare senses stay far below a frequent first sense ("dog" the animal vs. "hotdog").
WEIGHT_DIGITS = 4


@dataclass(frozen=True)
class Synset:
    """One noun synset of ``data.noun``."""

    offset: int
    lexfile: int
    words: tuple[tuple[str, int], ...]  # (lemma as written, lex_id)
    hypernyms: tuple[int, ...]  # offsets of @ and @i pointers to nouns


def _data_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith(" "):  # the licence header lines start with two spaces
                yield line.rstrip("\n")


def parse_data_noun(path: Path) -> dict[int, Synset]:
    """Parse ``data.noun`` into synsets keyed by byte offset."""
    synsets: dict[int, Synset] = {}
    for line in _data_lines(path):
        fields = line.split("|", 1)[0].split()
        offset, lexfile, n_words = int(fields[0]), int(fields[1]), int(fields[3], 16)
        words = tuple((fields[4 + 2 * i], int(fields[5 + 2 * i], 16)) for i in range(n_words))
        pos = 4 + 2 * n_words
        n_ptrs = int(fields[pos])
        hypernyms = []
        for i in range(n_ptrs):
            symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
            if symbol in ("@", "@i") and target_pos == "n":
                hypernyms.append(int(target))
        synsets[offset] = Synset(offset, lexfile, words, tuple(hypernyms))
    return synsets


def parse_index_noun(path: Path) -> dict[str, tuple[int, ...]]:
    """Parse ``index.noun``: lemma (as stored, lower case with underscores) → synset offsets in sense order."""
    index: dict[str, tuple[int, ...]] = {}
    for line in _data_lines(path):
        fields = line.split()
        n_synsets, n_ptrs = int(fields[2]), int(fields[3])
        index[fields[0]] = tuple(int(f) for f in fields[6 + n_ptrs : 6 + n_ptrs + n_synsets])
    return index


def parse_cntlist(path: Path) -> dict[tuple[str, int, int], int]:
    """Parse ``cntlist.rev`` noun entries: (lemma, lexfile, lex_id) → tagged count."""
    counts: dict[tuple[str, int, int], int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, count = line.split()
        lemma, _, rest = key.partition("%")
        parts = rest.split(":")
        if parts[0] == "1":
            counts[(lemma, int(parts[1]), int(parts[2]))] = int(count)
    return counts


def parse_exceptions(path: Path) -> dict[str, str]:
    """Parse ``noun.exc``: inflected form → first base form."""
    result: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            result.setdefault(parts[0], parts[1])
    return result


def coverage(synsets: dict[int, Synset], class_offsets: list[int]) -> dict[int, set[int]]:
    """Synset offset → ImageNet class indices it covers (itself or any hyponym, instance hyponyms included)."""
    covered: dict[int, set[int]] = {}
    for index, start in enumerate(class_offsets):
        stack, seen = [start], {start}
        while stack:
            offset = stack.pop()
            covered.setdefault(offset, set()).add(index)
            for parent in synsets[offset].hypernyms:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
    return covered


def nearest_covering(offset: int, synsets: dict[int, Synset], covered: dict[int, set[int]]) -> tuple[list[int], int]:
    """The nearest hypernyms (breadth-first, ≤ MAX_HOPS) that cover classes, and their distance.

    Returns ``([], 0)`` when none is near, or when the nearest ones are too broad to say anything.
    """
    level, seen = [offset], {offset}
    for hops in range(1, MAX_HOPS + 1):
        level = sorted({p for o in level for p in synsets[o].hypernyms if p not in seen})
        seen.update(level)
        hits = [o for o in level if o in covered]
        if hits:
            narrow = [o for o in hits if len(covered[o]) <= MAX_HYPERNYM_COVER]
            return (narrow, hops) if narrow else ([], 0)
    return [], 0


def sense_weights(lemma: str, offsets: tuple[int, ...], synsets: dict[int, Synset], counts: dict) -> list[float]:
    """Relative weight of each sense of ``lemma``: (tagged count + 1/rank) / max over the senses."""
    raw = []
    for rank, offset in enumerate(offsets, start=1):
        synset = synsets[offset]
        lex_ids = [lex_id for word, lex_id in synset.words if word.lower() == lemma]
        count = counts.get((lemma, synset.lexfile, lex_ids[0]), 0) if lex_ids else 0
        raw.append(count + 1.0 / rank)
    top = max(raw)
    return [round(r / top, WEIGHT_DIGITS) for r in raw]


def synset_name(synset: Synset, index: dict[str, tuple[int, ...]]) -> str:
    """NLTK-style name (``dog.n.01``): first lemma and the synset's sense number for it."""
    lemma = synset.words[0][0].lower()
    lemma = lemma.split("(")[0]  # adjective markers like "(a)" are not part of the index key
    senses = index.get(lemma, ())
    number = senses.index(synset.offset) + 1 if synset.offset in senses else 1
    return f"{lemma}.n.{number:02d}"


def read_timm_classes() -> tuple[list[str], list[str], list[str]]:
    """ImageNet-1k synset ids, lemmas and definitions in class order, from timm's data files."""
    import timm.data

    info = Path(timm.data.__file__).parent / "_info"
    ids = (info / "imagenet_synsets.txt").read_text().split()

    def table(name: str) -> dict[str, str]:
        rows = (line.partition("\t") for line in (info / name).read_text(encoding="utf-8").splitlines())
        return {key: value.strip() for key, _, value in rows}

    lemmas, definitions = table("imagenet_synset_to_lemma.txt"), table("imagenet_synset_to_definition.txt")
    return ids, [lemmas[s] for s in ids], [definitions[s] for s in ids]


def build(wordnet: Path) -> dict:
    """Everything the run-time vocabulary needs, as a JSON-ready dict."""
    synsets = parse_data_noun(wordnet / "data.noun")
    index = parse_index_noun(wordnet / "index.noun")
    counts = parse_cntlist(wordnet / "cntlist.rev")
    class_ids, class_lemmas, class_definitions = read_timm_classes()
    covered = coverage(synsets, [int(s[1:]) for s in class_ids])

    kept: dict[int, int] = {}  # synset offset → row in the output synset table
    lemmas: dict[str, dict[int, list]] = {}  # normalised lemma → synset row → [weight, hops]
    for key in sorted(index):
        offsets = index[key]
        senses = lemmas.setdefault(normalise(key), {})
        for offset, weight in zip(offsets, sense_weights(key, offsets, synsets, counts), strict=True):
            targets, hops = ([offset], 0) if offset in covered else nearest_covering(offset, synsets, covered)
            for target in targets:
                discount = HOP_DISCOUNT**hops * min(1.0, BROAD_COVER / len(covered[target])) if hops else 1.0
                _merge(senses, kept.setdefault(target, len(kept)), round(weight * discount, WEIGHT_DIGITS), hops)
    # A term that names an ImageNet class is that class, whatever its WordNet sense rank ("cup" is a class).
    for class_id, names in zip(class_ids, class_lemmas, strict=True):
        row = kept.setdefault(int(class_id[1:]), len(kept))
        for name in names.split(","):
            _merge(lemmas.setdefault(normalise(name), {}), row, 1.0, 0)

    ordered = sorted(kept, key=kept.get)  # type: ignore[arg-type]
    table = [[synset_name(synsets[o], index), o, sorted(covered[o])] for o in ordered]
    exceptions = parse_exceptions(wordnet / "noun.exc")
    return {
        "version": FORMAT_VERSION,
        "source": "WordNet 3.0 nouns (Princeton); ImageNet-1k classes from timm",
        "params": {
            "max_hops": MAX_HOPS,
            "max_hypernym_cover": MAX_HYPERNYM_COVER,
            "hop_discount": HOP_DISCOUNT,
            "broad_cover": BROAD_COVER,
        },
        "classes": {"synsets": class_ids, "lemmas": class_lemmas, "definitions": class_definitions},
        "synsets": table,
        "lemmas": {lemma: links for lemma, links in ((k, _links(v)) for k, v in sorted(lemmas.items())) if links},
        "exceptions": {normalise(k): normalise(v) for k, v in sorted(exceptions.items()) if lemmas.get(normalise(v))},
    }


def _merge(senses: dict[int, list], row: int, weight: float, hops: int) -> None:
    """Keep the strongest link from a lemma to a synset row (senses can reach one hypernym twice)."""
    if row not in senses or weight > senses[row][0]:
        senses[row] = [weight, hops]


def _links(senses: dict[int, list]) -> list[list]:
    """A lemma's ``[synset row, weight, hops]`` links, strongest first; links that round to 0 are dropped."""
    links = [[row, weight, hops] for row, (weight, hops) in senses.items() if weight > 0]
    return sorted(links, key=lambda link: (-link[1], link[0]))


def encode(data: dict) -> bytes:
    """Deterministic gzip-compressed JSON."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET, help="folder holding data.noun etc.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .json.gz file")
    args = parser.parse_args(argv)
    data = build(args.wordnet)
    blob = encode(data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(blob)
    print(f"wrote {args.out} ({len(blob) / 1e6:.2f} MB): {len(data['lemmas'])} lemmas, {len(data['synsets'])} synsets")


if __name__ == "__main__":
    main()
