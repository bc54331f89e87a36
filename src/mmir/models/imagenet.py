"""The ImageNet-1k class vocabulary in the standard output order (synset ids shipped inside timm)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


def _info_dir() -> Path:
    import timm.data

    return Path(timm.data.__file__).parent / "_info"


@lru_cache(maxsize=1)
def imagenet_synsets() -> tuple[str, ...]:
    """The 1000 WordNet synset ids (``n01440764`` …) in ImageNet-1k class order."""
    lines = (_info_dir() / "imagenet_synsets.txt").read_text().split()
    if len(lines) != 1000:
        raise RuntimeError(f"expected 1000 ImageNet synsets in timm, found {len(lines)}")
    return tuple(lines)


@lru_cache(maxsize=1)
def imagenet_lemmas() -> dict[str, str]:
    """Synset id → comma-separated lemmas (``n02123045`` → ``"tabby, tabby cat"``)."""
    result: dict[str, str] = {}
    for line in (_info_dir() / "imagenet_synset_to_lemma.txt").read_text().splitlines():
        synset, _, lemma = line.partition("\t")
        result[synset] = lemma.strip()
    return result


def imagenet_display_names() -> tuple[str, ...]:
    """Short human names in class order: the first lemma of each synset."""
    lemmas = imagenet_lemmas()
    return tuple(lemmas.get(s, s).split(",")[0].strip() for s in imagenet_synsets())
