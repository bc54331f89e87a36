"""The bundled WordNet → ImageNet data file, and that the script regenerates it byte-identically."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mmir.concepts.hierarchy import DATA_FILE, load_hierarchy

ROOT = Path(__file__).resolve().parents[2]
WORDNET = Path("/usr/share/wordnet")


def test_classes_follow_timm_order() -> None:
    from mmir.models.imagenet import imagenet_synsets

    assert load_hierarchy().class_synsets == imagenet_synsets()


def test_dog_covers_118_classes() -> None:
    links = load_hierarchy().lookup("dog")
    assert links[0].synset == "dog.n.01"
    assert links[0].weight == 1.0 and links[0].hops == 0
    assert len(links[0].classes) == 118


def test_data_file_is_small() -> None:
    path = ROOT / "src/mmir/concepts/data" / DATA_FILE
    assert path.stat().st_size < 2_000_000


def test_beach_borrows_a_hypernym_with_discount() -> None:
    hierarchy = load_hierarchy()
    links = hierarchy.lookup("beach")
    assert links and all(link.hops >= 1 and link.weight < 1.0 for link in links)
    seashore = hierarchy.class_synsets.index("n09428293")
    assert any(seashore in link.classes for link in links)


@pytest.mark.slow
@pytest.mark.skipif(not (WORDNET / "data.noun").exists(), reason="Debian wordnet-base is not installed")
def test_script_regenerates_the_file_byte_identically(tmp_path: Path) -> None:
    out = tmp_path / DATA_FILE
    script = ROOT / "scripts/build_concept_hierarchy.py"
    subprocess.run([sys.executable, str(script), "--wordnet", str(WORDNET), "--out", str(out)], check=True)
    assert out.read_bytes() == (ROOT / "src/mmir/concepts/data" / DATA_FILE).read_bytes()
