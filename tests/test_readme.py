"""The shell blocks of README.md and docs/*.md run as written, on short inputs.

Each ```bash block is cut into commands (``\\`` continuations joined, ``&&`` chains
split, comments dropped). Every ``streamser`` command's options must exist (checked
against the click commands, so a renamed option fails here); every ``python FILE`` and
``pytest FILE`` must name a file that exists. Then the commands run in order, in a
scratch folder that sees the repository's ``configs/`` and ``../shared/data`` as the
README does, with long durations shortened (``SHORTEN``) and the cry robot's event
publisher moved off tcp 5556 to a free port (another run on the machine may hold 5556;
the home robot's page and broker port too).
Commands that need a
microphone, a running graph, minutes of training, a package install or the test suite
itself are skipped, each for the reason in ``SKIP``.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import DATA, ROOT, free_port

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: (regex on the command, reason it is not run here)
SKIP = [
    (r"^(sudo )?apt-get ", "installs a system package"),
    (r"^python3 -m venv |^\. \.venv/bin/activate$|^pip install ",
     "sets up the environment this test already runs in"),
    (r"^pytest\b", "the test suite itself (CI runs it)"),
    (r"^streamser run \S+\s*(#.*)?$", "listens to the microphone"),
    (r"^streamser (devices|monitor)\b", "needs a sound card or a running graph"),
    (r"^streamser run robot\.yaml|--realtime", "runs in real time until stopped"),
    (r"^streamser train |^python -m streamser\.train\.", "minutes of training"),
    (r"^streamser eval runs/", "needs the checkpoint the skipped training writes"),
    (r"^#!|^echo ", "a script's body, not a command"),
    (r"^(sudo )?streamser service install (?!.*--out)", "installs a system service"),
    (r"^(sudo )?(systemctl|journalctl|loginctl) ", "manages the machine's services"),
    (r"^python3? examples/soothe\.py", "a robot that runs until stopped (needs a broker)"),
]
#: (regex, replacement): the same command on a short input
SHORTEN = [
    (r"--minutes \d+", "--minutes 0.4"),
    (r"mic\.duration=\d+", "mic.duration=8"),
    (r"--end \d+", "--end 20"),
]


def blocks(path: Path) -> list[str]:
    return re.findall(r"```(?:bash|sh)\n(.*?)```", path.read_text(), re.S)


def commands(block: str) -> list[str]:
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip() if not line.startswith("#!") else line
        if line and not line.startswith("# "):
            out += [c.strip() for c in line.split("&&") if c.strip()]
    return out


def skip_reason(cmd: str) -> str | None:
    return next((why for pattern, why in SKIP if re.search(pattern, cmd)), None)


def all_commands() -> list[tuple[str, str]]:
    return [(f"{doc.relative_to(ROOT)}#{i}", cmd) for doc in DOCS
            for i, block in enumerate(blocks(doc)) for cmd in commands(block)]


def quoted_commands() -> list[tuple[str, str]]:
    """``streamser``/``python``/``pytest`` lines of every fenced block (untagged ones
    too: the benchmark recipes in docs/performance.md), for the option check."""
    out = []
    for doc in DOCS:
        for i, block in enumerate(re.findall(r"```[a-z]*\n(.*?)```", doc.read_text(), re.S)):
            out += [(f"{doc.relative_to(ROOT)}#{i}", c) for c in commands(block)
                    if re.match(r"(streamser|python3?|pytest) ", c)]
    return out


def test_docs_have_command_blocks() -> None:
    assert len(all_commands()) >= 10


@pytest.mark.parametrize("where,cmd", quoted_commands(),
                         ids=[c[:60] for _, c in quoted_commands()])
def test_documented_options_exist(where: str, cmd: str) -> None:
    from streamser.cli import main
    words = shlex.split(cmd)
    if words[0] == "python3" and words[1:2] == ["-m"]:
        return
    if words[0] == "streamser":
        group = main
        words = words[1:]
        while words and words[0].startswith("-"):
            words = words[1:]
        command = group.get_command(click.Context(group), words[0])
        assert command is not None, f"{where}: no command 'streamser {words[0]}'"
        while isinstance(command, click.Group) and len(words) > 1:  # service install
            words = words[1:]
            command = command.get_command(click.Context(command), words[0])
            assert command is not None, f"{where}: {cmd}: no subcommand '{words[0]}'"
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        used = {w.split("=")[0] for w in words[1:] if w.startswith("-") and w != "-"}
        assert used <= known, f"{where}: {cmd}: unknown {sorted(used - known)}"
    elif words[0] in ("python", "python3", "pytest") and len(words) > 1:
        files = [w for w in words[1:] if w.endswith(".py") or "/" in w and "::" not in w
                 and not w.startswith("-") and w.startswith(("tests/", "benchmarks/"))]
        for f in files:
            assert (ROOT / f).exists(), f"{where}: {cmd}: no file {f}"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like a checkout: configs/ and ../shared/data reachable."""
    if not DATA.is_dir():
        pytest.skip(f"real audio not found at {DATA} (set STREAMSER_DATA)")
    top = tmp_path_factory.mktemp("readme")
    work = top / "repo"
    work.mkdir()
    (work / "configs").symlink_to(ROOT / "configs")
    (top / "shared").mkdir()
    (top / "shared" / "data").symlink_to(DATA)
    import numpy as np
    import soundfile as sf
    clip, rate = sf.read(DATA / "babycry_esc" / "crying" / "1-187207-A.flac")
    sf.write(work / "recording.flac", np.concatenate([clip, clip]), rate)
    return work


def _run(where: str, cmd: str, cwd: Path) -> None:
    for pattern, repl in SHORTEN:
        cmd = re.sub(pattern, repl, cmd)
    words = shlex.split(cmd)
    if words[0] == "streamser":
        words = [sys.executable, "-m", "streamser", *words[1:]]
        if words[3:4] in (["run"], ["bench"]) and "configs/cry_robot.yaml" in words:
            words += ["--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}"]
        if words[3:4] == ["run"] and "configs/cry_robot_home.yaml" in words:
            # its page and publisher on free ports; no broker here: do not wait for one
            words += ["--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}",
                      "--set", f"web.port={free_port()}", "--set", f"mqtt.port={free_port()}",
                      "--set", "mqtt.connect_wait=0", "--set", "mqtt.drain=0"]
    import glob
    words = [w2 for w in words for w2 in (sorted(glob.glob(w, root_dir=cwd)) or [w])]
    done = subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "100"})
    assert done.returncode == 0, f"{where}: {cmd}\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d for d in DOCS if blocks(d)], ids=lambda d: d.name)
def test_documented_commands_run(doc: Path, scratch: Path) -> None:
    ran = []
    for i, block in enumerate(blocks(doc)):
        for cmd in commands(block):
            if skip_reason(cmd) is None:
                _run(f"{doc.name} block {i}", cmd, scratch)
                ran.append(cmd)
    if doc.name == "README.md":   # the sequence mkstream -> bench -> plot-events, at least
        assert any("plot-events" in c for c in ran), ran
        assert (scratch / "timeline.png").stat().st_size > 10_000


def test_every_skip_is_used() -> None:
    reasons = {skip_reason(cmd) for _, cmd in all_commands()}
    unused = [why for _, why in SKIP if why not in reasons]
    assert not unused, f"SKIP entries no documented command needs: {unused}"


def test_ci_run_touches_home_only_under_ci(tmp_path: Path) -> None:
    """.ci/run's ~/.asoundrc step, run alone: a desktop (no CI variable) keeps its own
    ALSA setup; under CI the silent capture device is installed."""
    script = (ROOT / ".ci" / "run").read_text()
    step = re.search(r"\n(if [^\n]*asoundrc.*?\nfi)\n", script, re.S)
    assert step, "no ~/.asoundrc step found in .ci/run"
    assert "cp .ci/asoundrc" in step.group(1)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    for ci, home in ((None, tmp_path / "desk"), ("true", tmp_path / "ci")):
        home.mkdir()
        subprocess.run(["bash", "-c", step.group(1)], cwd=ROOT, check=True,
                       env={**env, "HOME": str(home), **({"CI": ci} if ci else {})})
        assert (home / ".asoundrc").exists() == bool(ci)
    assert "-q" not in re.findall(r"pip install[^\n]*", script)[0].split()
