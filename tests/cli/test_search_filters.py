"""``mmir search`` / ``mmir similar`` with --kind, --under, --after, --before, --name, as a user runs them
(subprocesses: real start-up, exit codes, one-line errors). The collection is the synthetic one of
``tests/search/test_filters.py``: a 40-shot video leads "zebra", photos live in set_a and set_b."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.search.test_filters import PHOTOS, build


def mmir(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True, env=env, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture()
def zoo(tmp_path: Path) -> tuple[str, Path]:
    build(tmp_path / "coll", tmp_path / "media").close()
    return str(tmp_path / "coll"), tmp_path / "media"


def test_search_takes_kind_and_under(zoo, tmp_path: Path) -> None:
    coll, media = zoo
    plain = json.loads(mmir("search", "zebra", "-c", coll, "-k", "5", "--json").stdout)
    assert plain[0]["kind"] == "video"
    (media / "set_a").mkdir(parents=True)  # the synthetic files are not on disk; their folder is, for this test
    for cwd in (tmp_path, media):  # folder names inside the collection; or a folder on disk from where we are
        args = ("search", "zebra", "--kind", "photo", "--under", "set_a", "-k", "5", "--json", "-c", coll)
        result = mmir(*args, cwd=cwd)
        assert result.returncode == 0, result.stderr
        hits = json.loads(result.stdout)
        assert len({h["media_id"] for h in hits}) == 5
        assert all(h["kind"] == "image" and Path(h["path"]).parent.name == "set_a" for h in hits)


def test_dates_and_names_and_similar(zoo) -> None:
    coll, media = zoo
    dated = mmir("search", "zebra", "-c", coll, "-k", "50", "--json", "--after", "2024-01-10", "--before", "2024-01-19")
    assert len(json.loads(dated.stdout)) == 10, dated.stderr  # the photos of 10 to 19 January
    named = json.loads(mmir("search", "bear", "-c", coll, "-k", "50", "--json", "--name", "*CAT*").stdout)
    assert len(named) == PHOTOS // 3 + 1 and all("cat" in Path(h["path"]).name.lower() for h in named)
    similar = mmir("similar", f"{media / 'safari.mp4'}@8.0", "-c", coll, "-k", "10", "--json", "--kind", "photo",
                   "--under", str(media / "set_b"))  # fmt: skip
    hits = json.loads(similar.stdout)
    assert len(hits) == 10 and all(Path(h["path"]).parent.name == "set_b" for h in hits), similar.stderr
    then = ("search", "zebra", "--then", "bear", "--within", "5", "-c", coll, "--json")
    assert len(json.loads(mmir(*then).stdout)) == 1
    assert json.loads(mmir(*then, "--kind", "photo").stdout) == []  # a temporal query pairs shots of videos only


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "tree"], "kind must be photo or video, not 'tree'"),
        (["--after", "2024-13-45"], "after: '2024-13-45' is not a date"),
        (["--before", "last week"], "before: 'last week' is not a date"),
        (["--after", "2024-06", "--before", "2024-05"], "is not before"),
    ],
)
def test_bad_filters_are_one_line_errors(zoo, args: list[str], message: str) -> None:
    coll, _ = zoo
    result = mmir("search", "zebra", "-c", coll, *args)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
