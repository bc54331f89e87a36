"""Issue 24 part 1: one flag vocabulary across every command, errors instead of silently ignored options, help
readable at 80 columns. Each test failed before the change it names."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest

from mmir.api import DEFAULT_COLLECTION
from mmir_cli import run

RANKING = {"search", "similar", "concepts", "eval retrieval"}  # commands whose output is a ranked list


def _leaves(command: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(name, click command)`` of every runnable command, ``train metric`` style names for groups."""
    found = []
    for name, sub in getattr(command, "commands", {}).items():
        path = f"{prefix} {name}".strip()
        found += _leaves(sub, path) if hasattr(sub, "commands") else [(path, sub)]
    return found


def _command_tree() -> Any:
    from mmir.cli import cli_command

    return cli_command()


COMMANDS = _leaves(_command_tree())


def _option(command: Any, flag: str) -> Any | None:
    return next((p for p in command.params if flag in getattr(p, "opts", ())), None)


def test_the_walk_sees_every_command() -> None:
    names = {name for name, _ in COMMANDS}
    assert {"index", "search", "similar", "info", "concepts", "duplicates", "serve", "shots", "sequence-concepts",
            "train classify", "train words", "train concepts", "train metric", "train sequence",
            "eval classify", "eval retrieval", "eval sequence"} <= names  # fmt: skip


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_speaks_the_one_vocabulary(name: str, command: Any) -> None:
    """``-c`` wherever a collection is read (eval retrieval had only --collection), ``-k`` wherever results are
    ranked (concepts had none), ``--json`` a flag on every command (a file path on eval retrieval, absent on most
    training commands)."""
    collection = next((p for p in command.params if p.name == "collection"), None)
    if collection is not None:
        assert "-c" in collection.opts and "--collection" in collection.opts
        assert collection.envvar == "MMIR_COLLECTION"
        assert collection.default in (DEFAULT_COLLECTION, None)  # the one default, from mmir.api
    if name in RANKING:
        assert _option(command, "-k") is not None, f"{name} ranks results but has no -k"
    as_json = _option(command, "--json")
    assert as_json is not None and as_json.is_flag, f"{name}: --json must be a flag printing JSON"
    model = _option(command, "--model")
    if model is not None:  # the encoder everywhere (eval sequence used it for the trained sequence model)
        assert "encoder" in (model.help or "").lower(), f"{name}: --model is not the encoder"


def test_renamed_flags_have_their_new_names() -> None:
    commands = dict(COMMANDS)
    def hidden(command: Any, flag: str) -> bool:  # an old name kept only to say what it is called now
        option = _option(command, flag)
        return option is None or option.hidden

    assert _option(commands["index"], "--pooling") is not None and hidden(commands["index"], "--descriptor")
    assert _option(commands["search"], "--channel") is not None and hidden(commands["search"], "--descriptor")
    assert _option(commands["eval sequence"], "--checkpoint") is not None
    assert hidden(commands["train sequence"], "--encoder") and hidden(commands["eval sequence"], "--encoder")
    assert _option(commands["concepts"], "--per-word") is not None
    assert _option(commands["eval retrieval"], "--out") is not None
    assert hidden(commands["train metric"], "--k")  # -k is a result count everywhere


def test_choice_lists_mirror_the_enums() -> None:
    """The CLI's Literal choices (used where the enum's module imports torch) are exactly the enums' values."""
    from mmir.cli import options
    from mmir.learn.metric import MetricLoss, MinerKind
    from mmir.learn.recipe import ClassificationLoss
    from mmir.learn.schedule import Schedule
    from mmir.media.shot_detectors import make_detector
    from mmir.models.convnets import Arch
    from mmir.models.engineered import Descriptor
    from mmir.models.sequence import SequenceArch

    def values(literal: Any) -> set[str]:
        return set(typing.get_args(literal))

    assert values(options.MetricLossName) == {m.value for m in MetricLoss}
    assert values(options.MinerName) == {m.value for m in MinerKind}
    assert values(options.SequenceArchName) == {m.value for m in SequenceArch}
    assert values(options.ArchName) | values(options.BackboneName) == {m.value for m in Arch}
    assert values(options.ClassificationLossName) == {m.value for m in ClassificationLoss}
    assert values(options.ScheduleName) == {m.value for m in Schedule}
    assert values(options.ChannelName) == {m.value for m in Descriptor} | {"fused"}
    with pytest.raises(ValueError, match="choose one of") as refused:
        make_detector("no-such-detector")
    assert set(str(refused.value).split("choose one of ")[1].split(", ")) == values(options.DetectorName)


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["search", "dog", "--within", "5"], "--within needs --then"),
        (["search", "dog", "--spatial"], "--spatial needs an example image"),
        (["search", "dog", "--channel", "colour"], "--channel colour needs an example image"),
        (["search", "--image", "q.jpg", "--fusion", "early"], "--fusion needs --channel fused"),
        (["search", "dog", "--said", "hello"], "give one query: keywords or --image or --said/--shows, not both"),
        (["search", "dog", "--feedback", "good.txt", "bad.txt"], "give one query: keywords or --image or --feedback"),
        (["search", "dog", "--feedback-method", "rocchio"], "--feedback-method needs --feedback"),
        (["search", "--said", "hello", "--then", "car"], "--then needs a first query"),
        (["duplicates", "--loose", "0.4"], "--loose needs --spatial"),
        (["train", "concepts", "labels.csv", "--show-suspects", "5"], "--show-suspects needs noisy labels"),
        (["train", "concepts", "--from-folders", "--negatives", "50"], "--negatives needs a LABELS.csv"),
        (["train", "metric", "groups", "--alpha", "0.3"], "--alpha needs --train-blocks"),
        (["train", "metric", "groups", "--train-blocks", "2", "--dim", "64"], "--dim needs head mode"),
        (["search", "--image", "q.jpg", "--channel", "fused", "--fusion-weights", "cnn=1,color=0.5"],
         "unknown channel 'color'; choose from cnn, colour, lbp, hog, bovw"),
        (["index", "photos", "--pca-from", "other"], "--pca-from needs --pca"),
        (["index", "photos", "--no-whiten"], "--whiten/--no-whiten needs --pca"),
        (["train", "sequence", "clips", "--label", "x"], "--label needs --register"),
        (["train", "classify", "data", "--freeze", "2"], "--freeze needs --from"),
        (["eval", "retrieval", "--qrels", "q.txt", "--run", "r.txt", "--run-out", "x.txt"], "--run-out needs"),
        # misspelled names fail before a new collection is created (it loaded the encoder first, ~20 s)
        (["index", "photos", "--descriptors", "cnn,colr"], "unknown channel 'colr'; choose from cnn, colour"),
        (["index", "photos", "--executor", "rey"], "--executor rey: expected local, ray"),
    ],
)  # fmt: skip
def test_an_option_that_needs_another_is_a_one_line_error(
    args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each combination was silently ignored before; now one line, exit status 2, nothing created."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.txt").write_text("q1 0 a 1\n")
    (tmp_path / "r.txt").write_text("q1 Q0 a 1 1.0 t\n")
    reads_a_collection = args[0] in ("search", "index", "duplicates") or args[:2] == ["train", "concepts"]
    collection = ["-c", str(tmp_path / "coll")] if reads_a_collection else []
    code, _, err = run(monkeypatch, capsys, *args, *collection)
    assert code == 2
    assert expected in _one_error_line(err)
    assert not (tmp_path / "coll").exists()


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["train", "metric", "groups", "--loss", "arcfase"], "'arcface'"),
        (["index", "photos", "--pooling", "colour"], "'rmac'"),
        (["index", "photos", "--backend", "gpu"], "'onnx-int8'"),
        (["search", "--image", "q.jpg", "--channel", "color"], "'colour'"),
        (["shots", "v.mp4", "--detector", "built-in"], "'transnetv2'"),
        (["train", "classify", "data", "--schedule", "linear"], "'cosine'"),
    ],
)
def test_a_bad_choice_lists_the_choices(
    args: list[str], shown: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """"'arcfase' is not a valid MetricLoss" listed no choices; now the refusal names every valid one."""
    code, _, err = run(monkeypatch, capsys, *args)
    assert code == 2 and "is not one of" in err and shown in err


def test_index_descriptor_is_no_longer_pooling(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mmir index --descriptor colour` said "unknown pooling": --pooling is pooling, --descriptors the channels."""
    code, _, err = run(monkeypatch, capsys, "index", "photos", "--descriptor", "colour")
    assert code == 2 and "--descriptor is now --pooling" in err and "channels to store are --descriptors" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["search", "--image", "q.jpg", "--descriptor", "colour"], "--descriptor is now --channel"),
        (["train", "sequence", "clips", "--encoder", "efficientnet-lite2"], "--encoder is now --model"),
        (["eval", "sequence", "clips", "--checkpoint", "m", "--encoder", "x"], "--encoder is now --model"),
        (["train", "metric", "groups", "--p", "3"], "--p is now --groups-per-batch"),
        (["train", "metric", "groups", "--k", "2"], "--k is now --per-group"),
    ],
)
def test_an_old_flag_name_says_what_it_is_called_now(
    args: list[str], expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(monkeypatch, capsys, *args)
    assert code == 2 and expected in _one_error_line(err)


def test_eval_sequence_model_naming_a_sequence_model_points_to_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`eval sequence --model DIR` named the trained sequence model; now --model is the encoder, and an old command
    line gets one line saying to use --checkpoint instead of a model-loading error."""
    (tmp_path / "seq").mkdir()
    (tmp_path / "seq" / "sequence.json").write_text("{}")
    code, _, err = run(monkeypatch, capsys, "eval", "sequence", "clips", "--checkpoint", "x", "--model",
                       str(tmp_path / "seq"))  # fmt: skip
    assert code == 2 and "pass it as --checkpoint" in _one_error_line(err)


def test_shots_of_a_photo_says_it_is_not_a_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mmir shots photo.jpg` reported "1 shots (25.00 fps)"."""
    from PIL import Image

    Image.new("RGB", (32, 24), (200, 10, 10)).save(tmp_path / "photo.jpg")
    code, out, err = run(monkeypatch, capsys, "shots", str(tmp_path / "photo.jpg"))
    assert code == 2 and out == ""
    assert "photo.jpg: not a video" in _one_error_line(err)


def test_serve_prints_its_url_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mmir serve` printed nothing: the user had to guess the address."""
    import uvicorn

    import mmir.cli.serve
    import mmir.server

    class Closed:
        def close(self) -> None:
            pass

    served: list[str] = []
    monkeypatch.setattr(mmir.cli.serve, "open_collection", lambda collection: Closed())
    monkeypatch.setattr(mmir.server, "create_app", lambda settings: "app")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(capsys.readouterr().out))
    assert run(monkeypatch, capsys, "serve", "-c", str(tmp_path), "--port", "8765")[0] == 0
    assert served == [f"serving {tmp_path} at http://127.0.0.1:8765/ (Ctrl-C to stop)\n"]
    run(monkeypatch, capsys, "serve", "-c", str(tmp_path), "--port", "8765", "--json")
    assert json.loads(served[-1])["url"] == "http://127.0.0.1:8765/"
    assert mmir.cli.serve.server_url("::1", 80) == "http://[::1]:80/"


def test_eval_retrieval_json_is_a_flag_and_out_writes_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--json` took a file path on eval retrieval only; now it prints JSON, and `--out FILE` writes it."""
    (tmp_path / "q.txt").write_text("q1 0 a 1\nq1 0 b 0\n")
    (tmp_path / "r.txt").write_text("q1 Q0 b 1 2.0 t\nq1 Q0 a 2 1.0 t\n")
    files = ("--qrels", str(tmp_path / "q.txt"), "--run", str(tmp_path / "r.txt"))
    code, out, _ = run(monkeypatch, capsys, "eval", "retrieval", *files, "-k", "1", "-k", "2", "--json",
                       "--out", str(tmp_path / "f.json"))  # fmt: skip
    assert code == 0
    figures = json.loads(out)
    assert figures["map"] == pytest.approx(0.5) and figures["P@1"] == 0.0 and figures["P@2"] == 0.5
    assert json.loads((tmp_path / "f.json").read_text()) == figures


def test_concepts_k_ranks_concepts_over_all_words() -> None:
    """`concepts` had no -k (its --top meant concepts per word): -k now keeps the k strongest overall."""
    from mmir.cli.text import ranked_concepts
    from mmir.concepts import QueryMapping, QueryMode
    from mmir.concepts.mapping import ConceptWeight, TermMapping

    def term(word: str, importance: float, *weights: tuple[str, float]) -> TermMapping:
        return TermMapping(word, None, tuple(ConceptWeight(i, name, w) for i, (name, w) in enumerate(weights)),
                           importance=importance)  # fmt: skip

    mapping = QueryMapping("dog beach", QueryMode.AND, (
        term("dog", 1.0, ("dog", 0.6), ("wolf", 0.3)), term("beach", 0.5, ("seashore", 0.9), ("dog", 0.2)),
    ))  # fmt: skip
    assert ranked_concepts(mapping, 2) == [("dog", pytest.approx(0.7)), ("seashore", pytest.approx(0.45))]
    assert len(ranked_concepts(mapping, 10)) == 3


def test_help_is_readable_at_80_columns(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Every option's help showed `<bool>`-style types and was cut with "…" in narrow Rich columns."""
    monkeypatch.setenv("COLUMNS", "80")
    for name, _ in COMMANDS:
        code, out, _ = run(monkeypatch, capsys, *name.split(), "--help")
        assert code == 0, name
        assert "…" not in out and "<bool>" not in out and "<int" not in out and "<str>" not in out, (name, out)
        assert max(len(line) for line in out.splitlines()) <= 80, name
        assert "Usage: mmir" in out
    code, out, _ = run(monkeypatch, capsys, "train", "--help")
    assert "..." not in out.split("Commands:")[1]  # whole command summaries, not cut at 45 characters


def test_shots_shows_progress_and_json_stays_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shot detection ran silently (a minute with transnetv2); now a bar on stderr, none with --json."""
    import numpy as np

    from mmir.media.video_write import write_video

    frames = [np.full((48, 64, 3), 30, np.uint8)] * 25 + [np.full((48, 64, 3), 220, np.uint8)] * 25
    write_video(tmp_path / "cut.mp4", frames, 25)
    code, out, err = run(monkeypatch, capsys, "shots", str(tmp_path / "cut.mp4"))
    assert code == 0 and "2 shots" in out
    assert "shots: 100%" in err and "/2 s" in err
    code, out, err = run(monkeypatch, capsys, "shots", str(tmp_path / "cut.mp4"), "--json")
    assert code == 0 and len(json.loads(out)["shots"]) == 2 and "shots:" not in err


def test_eval_retrieval_of_a_run_file_ignores_the_collection_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With MMIR_COLLECTION exported, `--run FILE` still evaluates that file; `-c` given too is refused."""
    (tmp_path / "q.txt").write_text("q1 0 a 1\n")
    (tmp_path / "r.txt").write_text("q1 Q0 a 1 1.0 t\n")
    files = ("--qrels", str(tmp_path / "q.txt"), "--run", str(tmp_path / "r.txt"))
    monkeypatch.setenv("MMIR_COLLECTION", str(tmp_path / "coll"))
    code, out, _ = run(monkeypatch, capsys, "eval", "retrieval", *files, "--json")
    assert code == 0 and json.loads(out)["map"] == 1.0
    code, _, err = run(monkeypatch, capsys, "eval", "retrieval", *files, "-c", str(tmp_path / "coll"))
    assert code == 2 and "exactly one of --run" in _one_error_line(err)
