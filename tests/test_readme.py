"""The README is executable truth: its Python blocks run, its commands and flags exist, its recipe is one command.

The Python blocks run as a user would run them: each in a fresh interpreter, in a folder holding a collection
``.mmir`` that ``mmir index ~/Pictures ~/Videos`` built (``HOME`` points at a temporary home with a few
scikit-image photos and a two-shot video). The ``mmir ...`` lines of the README's shell blocks and inline code are
parsed against the Typer app's click command, so a renamed command or flag cannot silently rot the README.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import json
import os
import pkgutil
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tests.conftest import skimage_data_dir

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```", re.S | re.M)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
SHELL_LANGS = ("", "bash", "sh", "shell", "console")
HOME_PHOTOS = ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "horse.png")


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _blocks(langs: tuple[str, ...]) -> list[str]:
    return [m["body"] for m in FENCE.finditer(_readme()) if m["lang"] in langs]


def _prose() -> str:
    """The README without its fenced blocks."""
    return FENCE.sub("", _readme())


def _commands() -> list[list[str]]:
    """Every ``mmir ...`` command of the README (shell blocks and inline code) as tokens after ``mmir``."""
    lines: list[str] = []
    for body in _blocks(SHELL_LANGS):
        lines += body.replace("\\\n", " ").splitlines()
    lines += [span for span in INLINE.findall(_prose()) if span.startswith("mmir ")]
    commands = []
    for line in lines:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:  # a line of another language (nginx) with an unbalanced quote
            continue
        current: list[str] | None = None
        for token in tokens:
            if token in ("&&", ";", "||"):
                current = None
            elif current is not None:
                current.append(token)
            elif token == "mmir":
                current = []
                commands.append(current)
    return commands


def _app() -> Any:
    """The ``mmir`` click group (typer vendors its own click, so commands are duck-typed below)."""
    import typer

    import mmir.cli

    for module in pkgutil.iter_modules(mmir.cli.__path__):  # command modules register themselves on import
        importlib.import_module(f"mmir.cli.{module.name}")
    from mmir.cli.groups import app

    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    return group


def _resolve(group: Any, tokens: list[str]) -> tuple[Any, list[str], str]:
    """The (sub)command ``tokens`` name, the tokens after it, and its full name."""
    command, name = group, "mmir"
    while hasattr(command, "commands"):
        if not tokens or tokens[0] not in command.commands:
            known = ", ".join(sorted(command.commands))
            raise AssertionError(f"`{name} {' '.join(tokens)}`: unknown command (known: {known})")
        command, name, tokens = command.commands[tokens[0]], f"{name} {tokens[0]}", tokens[1:]
    return command, tokens, name


def _options(command: Any) -> dict[str, Any]:
    names: dict[str, Any] = {"--help": None}
    for param in command.params:
        # Hidden options are old names kept only to say what they are called now: the README must not use them.
        if param.param_type_name == "option" and not getattr(param, "hidden", False):
            names.update({opt: param for opt in [*param.opts, *param.secondary_opts]})
    return names


def _problems(group: Any, tokens: list[str]) -> list[str]:
    """What in one README command the CLI would refuse: an unknown command, option or choice."""
    command, rest, name = _resolve(group, tokens)
    options, problems = _options(command), []
    rest = [t.strip("[]") for t in rest if t.strip("[]") not in ("|", "...", "…")]
    for i, token in enumerate(rest):
        if token == "--":
            break
        if not token.startswith("-") or token == "-" or re.fullmatch(r"-\d+(\.\d+)?", token):
            continue
        flag = token.split("=", 1)[0]
        if flag not in options:
            problems.append(f"`{name}` has no option {flag}")
            continue
        param = options[flag]
        value = token.split("=", 1)[1] if "=" in token else (rest[i + 1] if i + 1 < len(rest) else "")
        choices = _choices(param)
        for choice in value.split("|") if choices else ():
            if choice and not choice.isupper() and choice not in choices:
                problems.append(f"`{name} {flag}` does not accept {choice!r} ({', '.join(sorted(choices))})")
    return problems


def _choices(param: Any) -> set[str]:
    """An enum option's values (typer keeps the annotation; plain click keeps a Choice type)."""
    if param is None or param.is_flag:
        return set()
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {str(member.value) for member in annotation}
    return set(getattr(getattr(param, "type", None), "choices", None) or ())


def test_every_readme_command_names_a_command_and_its_options() -> None:
    group, commands = _app(), _commands()
    assert len(commands) > 40  # the parser still finds the README's commands
    problems = [problem for tokens in commands for problem in _problems(group, tokens)]
    assert not problems, "\n".join(problems)


def test_a_renamed_flag_in_the_readme_would_fail() -> None:
    """The check itself: a flag, command or choice the CLI does not have is reported."""
    group = _app()
    assert _problems(group, ["index", "photos", "--no-such-flag", "1"]) == ["`mmir index` has no option --no-such-flag"]
    # An old name the CLI keeps hidden (only to say what it is called now) counts as gone.
    assert _problems(group, ["search", "--image", "q.jpg", "--descriptor", "colour"]) == [
        "`mmir search` has no option --descriptor"
    ]
    with pytest.raises(AssertionError, match="unknown command"):
        _problems(group, ["reindex", "photos"])
    assert _problems(group, ["search", "dog", "-k", "10", "--per", "shot"]) == []
    assert _problems(group, ["search", "dog", "--per", "frame"]) == [
        "`mmir search --per` does not accept 'frame' (file, shot)"
    ]


def _all_flags(group: Any) -> set[str]:
    flags: set[str] = set()
    for command in group.commands.values():
        flags |= _all_flags(command) if hasattr(command, "commands") else set(_options(command))
    return flags


OTHER_TOOLS_FLAGS = {"--psm"}  # Tesseract's, in a comparison


def test_flags_named_in_readme_prose_exist() -> None:
    """A backticked ``--flag`` in the prose is an option of some mmir command or a flag of some benchmark."""
    known = _all_flags(_app()) | OTHER_TOOLS_FLAGS
    for path in (ROOT / "benchmarks").glob("*.py"):
        known |= set(re.findall(r"add_argument\(\s*\"(-[\w-]+)\"", path.read_text(encoding="utf-8")))
    spans = [span for span in INLINE.findall(_prose()) if span.startswith("-")]
    assert len(spans) > 20
    unknown = sorted(
        {t.split("=")[0] for span in spans for t in span.split() if t.startswith("-") and t != "-"} - known
    )
    assert not unknown, f"README prose names flags no command or benchmark has: {unknown}"


def test_readme_detector_names_are_the_clis() -> None:
    """Every detector the README names (``--detector`` values, the detector tables' rows) is one the CLI takes."""
    from mmir.errors import MissingExtraError
    from mmir.media.shot_detectors import make_detector

    prose = _readme()
    named = set()
    for values in re.findall(r"--detector[ =]([\w|-]+)", prose):
        named.update(values.split("|"))
    for table in re.findall(r"^\| detector \|.*?(?=\n\n)", prose, re.S | re.M):
        rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
        for row in rows:
            first = row.split("|")[1]
            names = re.findall(r"`([\w-]+)`", first)
            assert names, f"detector table row names no CLI detector in backticks: {row}"
            named.update(names)
    assert {"fast", "transnetv2"} <= named
    for name in sorted(named):
        try:
            make_detector(name)
        except ValueError as exc:  # an unknown name
            raise AssertionError(f"README names detector {name!r}: {exc}") from exc
        except MissingExtraError:  # a known name whose optional extra is not installed here
            continue


def _benchmark_mentions() -> list[tuple[str, list[str]]]:
    found = []
    for match in re.finditer(r"benchmarks/(\w+)\.py((?: --?[\w-]+(?:[ =][^\s`;,)]+)?)*)", _readme()):
        flags = re.findall(r"(?<![\w-])(--[\w-]+|-[a-z]\b)", match[2])
        found.append((match[1], flags))
    return found


def test_readme_benchmarks_exist_with_the_flags_it_gives() -> None:
    mentions = _benchmark_mentions()
    assert len(mentions) > 20
    problems = []
    for name, flags in mentions:
        path = ROOT / "benchmarks" / f"{name}.py"
        if not path.is_file():
            problems.append(f"benchmarks/{name}.py does not exist")
            continue
        source = path.read_text(encoding="utf-8")
        problems += [f"benchmarks/{name}.py has no flag {f}" for f in flags if f'"{f}"' not in source]
    assert not problems, "\n".join(problems)


def _load_benchmark(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_class_folders(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def test_the_readme_fashion_mnist_command_is_the_benchmark_recipe(tmp_path: Path) -> None:
    """The one ``mmir train classify`` command the README gives builds the recipe ``fashion_mnist.py`` measured.

    It runs for real (one epoch on a tiny folder in place of Fashion-MNIST); the resolved config it writes must
    equal the benchmark's recipe arm in everything but the epoch count.
    """
    [tokens] = [t for t in _commands() if t[:2] == ["train", "classify"] and "--label-smoothing" in t]
    args = list(tokens)
    args[2] = str(_tiny_class_folders(tmp_path / "data"))
    args[args.index("--epochs") + 1] = "1"
    args[args.index("--out") + 1] = str(tmp_path / "run")
    done = subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    written = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    recipe = _load_benchmark("fashion_mnist").recipe_config(epochs=1).to_json()
    assert written == recipe
    assert written["label_smoothing"] == 0.05 and written["erasing"] == 0.1


# -- the Python blocks, run ------------------------------------------------------------------------------------


def _home(root: Path) -> Path:
    """A home folder with ~/Pictures (scikit-image photos) and ~/Videos/safari.mp4 (a cut at 6 s)."""
    from mmir.media.video_write import write_video

    pictures, videos = root / "Pictures", root / "Videos"
    pictures.mkdir(parents=True)
    videos.mkdir()
    for name in HOME_PHOTOS:
        shutil.copy(skimage_data_dir() / name, pictures / name)
    shots = []
    for name in ("horse.png", "motorcycle_left.png"):
        picture = Image.open(skimage_data_dir() / name).convert("RGB").resize((160, 120))
        shots.append(np.asarray(picture))
    write_video(videos / "safari.mp4", [shots[0]] * 30 + [shots[1]] * 30, fps=5)  # 6 s of each
    return root


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path: Path, reuse_lite0: object) -> None:
    from mmir.api import Collection

    blocks = _blocks(("python",))
    assert len(blocks) >= 3
    home = _home(tmp_path / "home")
    env = os.environ | {"HOME": str(home)}
    with Collection.open(home / ".mmir", create=True) as collection:  # what `mmir index ~/Pictures ~/Videos` does
        report = collection.index([home / "Pictures", home / "Videos"])
    assert report.added == len(HOME_PHOTOS) + 1 and not report.problems
    for number, block in enumerate(blocks, 1):
        script = tmp_path / f"block{number}.py"
        script.write_text(block, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(script)], cwd=home, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"README Python block {number} failed:\n{block}\n{done.stderr[-3000:]}"
