"""Text a photo carries: file/folder names, EXIF description and UserComment, XP keywords, XMP, sidecars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mmir.media.metadata import TextField, extract_metadata_text, name_words, sidecar_signature

_XMP = b"""<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:subject><rdf:Bag><rdf:li>lighthouse</rdf:li><rdf:li>Brittany</rdf:li></rdf:Bag></dc:subject>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">Stormy evening at the point</rdf:li></rdf:Alt></dc:description>
</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end='w'?>"""


def _jpeg(path: Path, **exif_tags: object) -> Path:
    image = Image.new("RGB", (16, 16), (90, 120, 200))
    exif = Image.Exif()
    for key, value in exif_tags.items():
        exif[int(key.removeprefix("t"), 16)] = value
    image.save(path, exif=exif)
    return path


def test_name_words_split_names_folders_camel_case_and_digits() -> None:
    assert name_words("/x/2019/SummerHoliday/IMG_2031 beach.jpg") == "2019 Summer Holiday IMG 2031 beach"
    assert name_words("cat.png") == "cat"


def test_exif_description_user_comment_and_xp_keywords(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "a.jpg", t010E="A quokka on Rottnest", t9C9E="marsupial;island".encode("utf-16-le"))
    text = extract_metadata_text(path)
    assert "quokka" in text.get(TextField.DESCRIPTION)
    assert "marsupial;island" in text.get(TextField.KEYWORDS)
    image = Image.new("RGB", (8, 8))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + "kangaroo crossing".encode("utf-16-le")
    image.save(tmp_path / "b.jpg", exif=exif)
    assert "kangaroo crossing" in extract_metadata_text(tmp_path / "b.jpg").get(TextField.DESCRIPTION)


def test_embedded_xmp_keywords_and_caption(tmp_path: Path) -> None:
    path = tmp_path / "c.jpg"
    Image.new("RGB", (8, 8)).save(path, xmp=_XMP)
    text = extract_metadata_text(path)
    assert text.get(TextField.KEYWORDS) == "lighthouse Brittany"
    assert text.get(TextField.DESCRIPTION) == "Stormy evening at the point"


def test_sidecars_txt_json_xmp(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "d.jpg")
    assert sidecar_signature(path) == ""
    (tmp_path / "d.txt").write_text("birthday party")
    (tmp_path / "d.json").write_text(json.dumps({"title": "cake", "people": [{"name": "Ana"}], "n": 3}))
    (tmp_path / "d.jpg.xmp").write_bytes(_XMP)
    sidecar = extract_metadata_text(path).get(TextField.SIDECAR)
    for word in ("birthday", "cake", "Ana", "lighthouse", "Stormy"):
        assert word in sidecar
    assert sidecar_signature(path).count("|") == 2


def test_bad_metadata_gives_names_only(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8garbage")
    (tmp_path / "broken.json").write_text("{not json")
    text = extract_metadata_text(broken)
    assert text.get(TextField.NAME).endswith(" broken")
    assert text.get(TextField.SIDECAR) == "" and text.get(TextField.DESCRIPTION) == ""


def test_sidecars_from_a_folder_listing_match_the_stat_path(tmp_path: Path) -> None:
    """One listing per folder (re-index of many files) finds exactly the sidecars the per-file checks find."""
    from mmir.media.metadata import folder_names, sidecar_paths

    path = _jpeg(tmp_path / "e.jpg")
    (tmp_path / "e.txt").write_text("sea")
    (tmp_path / "e.jpg.xmp").write_bytes(_XMP)
    (tmp_path / "e.json").mkdir()  # a folder with a sidecar's name is no sidecar
    (tmp_path / "other.txt").write_text("not ours")
    listed = folder_names(tmp_path)
    assert sidecar_paths(path, listed) == sidecar_paths(path) == [tmp_path / "e.txt", tmp_path / "e.jpg.xmp"]
    assert sidecar_signature(path, listed) == sidecar_signature(path)
    assert sidecar_paths(path, frozenset()) == []  # the listing is trusted: nothing listed, nothing stat'ed
    assert folder_names(tmp_path / "missing") == frozenset()


def test_bounded_readers_count_nesting_outside_strings_and_pick_the_closed_packet() -> None:
    from mmir.media._bounded import MAX_NESTING, MetadataRefused, json_nesting, json_strings, xmp_packet

    assert json_nesting('{"a": "[[[[{{"}') == 1
    assert json_nesting(r'["\"[[", [1, [2]]]') == 3  # an escaped quote does not end the string
    assert json_nesting("[" * 10_000) == MAX_NESTING + 1  # stops counting early
    with pytest.raises(MetadataRefused, match="nested deeper"):
        list(json_strings("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)))
    assert list(json_strings('{"k": ["a", {"b": "c"}], "d": "e"}')) == ["a", "c", "e"]
    assert xmp_packet(b"<x:xmpmeta <x:xmpmeta a>t</x:xmpmeta> <x:xmpmeta") == b"<x:xmpmeta a>t</x:xmpmeta>"
    assert xmp_packet(b"<x:xmpmeta" * 1000) is None
