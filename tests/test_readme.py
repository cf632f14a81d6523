"""The shell and Python blocks of README.md and docs/*.md run as written, on short inputs.

Each ```bash block is cut into commands (``\\`` continuations joined, ``&&`` chains
split, comments dropped). Every ``streamser`` command's options must exist (checked
against the click commands, so a renamed option fails here; pipelines too); every
``python FILE`` and ``pytest FILE`` must name a file that exists. Then the commands run
in order, in a scratch folder that sees the repository's ``configs/`` and
``../shared/data`` as the README does, with long durations shortened (``SHORTEN``) and
the cry robot's event publisher moved off tcp 5556 to a free port (another run on the
machine may hold 5556; the home robot's page and broker port too). A command with a pipe
or a redirection runs in bash; ``arecord`` records from an ALSA device that plays a real
recording (ALSA's file plugin), and a command whose tool (arecord, ffmpeg) is not
installed is left out, saying so. Commands
that need a microphone, a running graph, minutes of training, a package install or the
test suite itself are skipped, each for the reason in ``SKIP``.

Each ```python block runs as a script in the same folder; a subscriber (``zmq.SUB``)
runs while the cry robot publishes to it, and the plugin example is also used, as
``plugin: mypackage.clip:Clip``, from a graph beside ``mypackage/``. The README's test
command installs with ``sudo`` where there is one and without it as root: its apt-get
part runs against stand-in ``sudo`` and ``apt-get`` both ways.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import DATA, ROOT, free_port

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: (regex on the command, reason it is not run here)
SKIP = [
    (r"^(\$\(command -v sudo\) |sudo )?apt-get ", "installs a system package"),
    (r"^python3 -m venv |^\. \.venv/bin/activate$|^pip install ",
     "sets up the environment this test already runs in"),
    (r"^pytest\b", "the test suite itself (CI runs it)"),
    (r"^streamser run \S+\s*(#.*)?$", "listens to the microphone"),
    (r"^streamser (devices|monitor|listen)\b", "needs a sound card or a running graph"),
    (r"^streamser run robot\.yaml|--realtime", "runs in real time until stopped"),
    (r"^streamser train |^python -m streamser\.train\.", "minutes of training"),
    (r"^streamser eval runs/", "needs the checkpoint the skipped training writes"),
    (r"^#!|^echo ", "a script's body, not a command"),
    (r"^streamser adapt |^python -m streamser\.adapt\.",
     "needs a home's own recordings (tests/test_adapt.py runs adapt on real clips)"),
    (r"^(sudo )?streamser service install (?!.*--out)", "installs a system service"),
    (r"^(sudo )?(systemctl|journalctl|loginctl) ", "manages the machine's services"),
    (r"^python3? examples/soothe\.py", "a robot that runs until stopped (needs a broker)"),
]
#: (regex, replacement): the same command on a short input
SHORTEN = [
    (r"--minutes \d+", "--minutes 0.4"),
    (r"^arecord ", "arecord -d 4 "),
    (r"mic\.duration=\d+", "mic.duration=8"),
    (r"--end \d+", "--end 20"),
]


def fenced(path: Path) -> list[tuple[str, str]]:
    """Every fenced block of a Markdown file: (its language tag, its text)."""
    out, lang, body = [], None, []
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, body = line[3:].strip(), []
            else:
                out.append((lang, "\n".join(body) + "\n"))
                lang = None
        elif lang is not None:
            body.append(line)
    return out


def blocks(path: Path) -> list[str]:
    return [text for lang, text in fenced(path) if lang in ("bash", "sh")]


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
    """``streamser``/``python``/``pytest`` commands of every fenced shell block (untagged
    ones too: the benchmark recipes in docs/performance.md), each part of a pipeline on
    its own, for the option check."""
    out = []
    for doc in DOCS:
        for i, block in enumerate(t for lang, t in fenced(doc) if lang in ("bash", "sh", "")):
            out += [(f"{doc.relative_to(ROOT)}#{i}", part.split(" > ")[0].strip())
                    for c in commands(block) for part in c.split(" | ")
                    if re.match(r"(streamser|python3?|pytest) ", part.strip())]
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
    clip, rate = sf.read(DATA / "babycry_esc" / "crying" / "1-211527-A.flac")
    sf.write(work / "recording.flac", np.concatenate([clip, clip]), rate)
    # an ALSA default device that "captures" the recording, for arecord (HOME=top/home)
    raw = top / "recording.raw"
    raw.write_bytes(sf.read(work / "recording.flac", dtype="int16")[0].astype("<i2").tobytes())
    (top / "home").mkdir()
    (top / "home" / ".asoundrc").write_text(
        'pcm.!default { type plug; slave.pcm "card" }\n'
        f'pcm.card {{ type file; slave.pcm "null"; file "/dev/null"; infile "{raw}"; '
        'format "raw" }\n')
    return work


#: The README's cry robot graph, whose publisher each run moves to a free port.
ROBOT_RUN = re.compile(r"(streamser (?:run|bench) configs/cry_robot\.yaml[^|>]*)")
SHELL = re.compile(r" (\||>|<) ")
TOOLS = ("arecord", "ffmpeg")


def _run(where: str, cmd: str, cwd: Path) -> None:
    for pattern, repl in SHORTEN:
        cmd = re.sub(pattern, repl, cmd)
    env = {**os.environ, "COLUMNS": "100",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    if SHELL.search(cmd):               # a pipeline or a redirection: bash runs it
        missing = [t for t in TOOLS if re.search(rf"(^|\| ){t} ", cmd) and not shutil.which(t)]
        if missing:
            print(f"{where}: not run, {missing[0]} is not installed: {cmd}")
            return
        cmd = ROBOT_RUN.sub(lambda m: f"{m.group(1).rstrip()} --set publish.endpoint="
                            f"tcp://127.0.0.1:{free_port()} ", cmd)
        if cmd.startswith("arecord "):
            env["HOME"] = str(cwd.parent / "home")    # its ALSA device plays a recording
        done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=cwd,
                              capture_output=True, text=True, timeout=120, env=env)
    else:
        words = shlex.split(cmd)
        if words[0] == "streamser":
            words = [sys.executable, "-m", "streamser", *words[1:]]
            if words[3:4] in (["run"], ["bench"]) and "configs/cry_robot.yaml" in words:
                words += ["--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}"]
            if words[3:4] == ["run"] and "configs/cry_robot_home.yaml" in words:
                # its page and publisher on free ports; no broker here: do not wait for one
                words += ["--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}",
                          "--set", f"web.port={free_port()}", "--set",
                          f"mqtt.port={free_port()}", "--set", "mqtt.connect_wait=0",
                          "--set", "mqtt.drain=0"]
        import glob
        words = [w2 for w in words for w2 in (sorted(glob.glob(w, root_dir=cwd)) or [w])]
        done = subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=120,
                              env=env)
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


def python_blocks(path: Path) -> list[str]:
    return [text for lang, text in fenced(path) if lang == "python"]


def _python(where: str, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / "block.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=cwd, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, f"{where}:\n{code}\n{done.stdout[-1500:]}\n{done.stderr}"
    return done


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d for d in DOCS if python_blocks(d)], ids=lambda d: d.name)
def test_documented_python_runs(doc: Path, scratch: Path) -> None:
    for i, code in enumerate(python_blocks(doc)):
        where = f"{doc.name} python block {i}"
        if "zmq.SUB" in code:
            _subscriber(where, code, scratch)
            continue
        done = _python(where, code, scratch)
        if "class Clip(Node)" in code:
            _plugin_beside_the_graph(code, scratch)
        if "streamser.open(" in code:              # the API block prints its events
            assert "cry_start" in done.stdout, done.stdout


def _subscriber(where: str, code: str, cwd: Path) -> None:
    """The subscriber runs first; the cry robot then publishes to it (on a free port);
    the subscriber gets every event of the run and ends at its end of stream."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    code = code.replace("tcp://127.0.0.1:5556", endpoint)
    (cwd / "subscriber.py").write_text(code)
    sub = subprocess.Popen([sys.executable, "subscriber.py"], cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    import time
    time.sleep(1.0)
    run = subprocess.run([sys.executable, "-m", "streamser", "run", "configs/cry_robot.yaml",
                          "--input", "recording.flac", "--events", "sub_events.jsonl", "-q",
                          "--set", f"publish.endpoint={endpoint}"], cwd=cwd,
                         capture_output=True, text=True, timeout=120)
    out, err = sub.communicate(timeout=60)
    assert run.returncode == 0, run.stderr
    assert sub.returncode == 0, f"{where}: {err}"
    written = (cwd / "sub_events.jsonl").read_text().splitlines()
    assert written and out.splitlines() == written, (out, written)


def _plugin_beside_the_graph(code: str, cwd: Path) -> None:
    """The README's plugin, as ``mypackage/clip.py`` beside a graph that names it."""
    import numpy as np
    pkg = cwd / "plugins_here" / "mypackage"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "clip.py").write_text(code)
    graph = cwd / "plugins_here" / "clip.yaml"
    graph.write_text("nodes:\n"
                     f"  src:  {{plugin: source.file, params: {{path: {cwd}/recording.flac}}}}\n"
                     "  clip: {plugin: mypackage.clip:Clip, input: src, params: {limit: 0.05}}\n"
                     "  out:  {plugin: sink.npy, input: clip, params: {path: clipped.npy}}\n")
    done = subprocess.run([sys.executable, "-m", "streamser", "run", str(graph), "-q"],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    clipped = np.load(cwd / "clipped.npy")
    assert clipped.size and np.abs(clipped).max() == pytest.approx(0.05)


#: What the README's test command installs from Debian: pyaudio's build, the pipe-input
#: tests' arecord and ffmpeg, the MQTT tests' broker, the page's browser and its driver,
#: and systemd-analyze for the service unit.
PACKAGES = ("portaudio19-dev", "alsa-utils", "ffmpeg", "mosquitto", "chromium",
            "chromium-driver", "systemd")


def test_readme_test_command_works_as_root_and_with_sudo(tmp_path) -> None:
    """Its apt-get part against stand-ins: without sudo (root in a container) apt-get is
    called directly; where sudo is, through sudo."""
    text = (ROOT / "README.md").read_text()
    cmd = next(c for b in blocks(ROOT / "README.md") for c in [b.strip()]
               if c.endswith("&& pytest"))
    apt = " && ".join(c for c in commands(cmd) if skip_reason(c) == "installs a system "
                      "package")
    assert apt.count("apt-get") == 2 and "sudo apt-get" not in apt.replace(
        "$(command -v sudo) apt-get", "")
    for with_sudo in (False, True):
        bin_ = tmp_path / f"bin{int(with_sudo)}"
        bin_.mkdir()
        log = bin_ / "log"
        (bin_ / "apt-get").write_text(f'#!/bin/sh\necho "apt-get $*" >> {log}\n')
        if with_sudo:
            (bin_ / "sudo").write_text(f'#!/bin/sh\necho "sudo" >> {log}\nexec "$@"\n')
        for f in bin_.iterdir():
            f.chmod(0o755)
        done = subprocess.run(["/bin/bash", "-c", apt], env={"PATH": str(bin_)},
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        calls = log.read_text().splitlines()
        want = ["apt-get update", f"apt-get install -y {' '.join(PACKAGES)}"]
        assert calls == ([x for w in want for x in ("sudo", w)] if with_sudo else want)
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(f" {p}" in ci for p in PACKAGES), "a package the README installs is not in .ci/run"
    assert text.count("$(command -v sudo) apt-get") == 2


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
