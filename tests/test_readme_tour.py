"""The README's five-minute tour, run from the README's own code blocks, command by command.

Each ``sh`` block of the tour belongs to a terminal (its first line says which); each terminal is
one bash process, fed the block's commands one at a time as if pasted, in a copy of the
repository's files (what a clone has) that shares this checkout's ``.venv``. The only change to
the text: port 8080 becomes a free port, and every shell has ``HOOKLINE_PORT`` set to it — what a
user whose 8080 is taken would do. ``hookline`` is not on the shells' PATH until the tour puts it
there. A block marked "keeps running" ends with a command that does (``make run``,
``hookline listen``); the others must exit 0, answer JSON that is not an error, match the sample
answers the tour shows, and ``hookline listen`` must print the verified events."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI
from tests.support import REPO, free_port, wait_for

FIRST_SCREEN = 45  # lines of a terminal or a browser window, roughly


def test_the_first_screen_says_how_to_run_the_demo() -> None:
    first = "\n".join((REPO / "README.md").read_text().splitlines()[:FIRST_SCREEN])
    assert re.search(r"```sh\n(?:.*\n)*?make demo\b", first) and "hookline demo" in first
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "install", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert dry_run.returncode == 0 and dry_run.stdout.split() == [".venv/bin/hookline", "demo"], dry_run.stdout


@dataclass
class Command:
    text: str
    expected: Any = None  # the sample answer shown right after it (``# {...}``), if any


@dataclass
class Block:
    terminal: str
    keeps_running: bool
    commands: list[Command] = field(default_factory=list)


def tour_blocks(readme: str) -> list[Block]:
    """The ``sh`` blocks of the "Five-minute tour" section, split into commands."""
    section = readme.split("\n## Five-minute tour\n", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for body in re.findall(r"```sh\n(.*?)```", section, re.S):
        lines = body.splitlines()
        heading = re.match(r"# (terminal \d+)", lines[0])
        assert heading, f"a tour block must start with '# terminal N: ...': {lines[0]!r}"
        block = Block(heading.group(1), "keeps running" in lines[0])
        pending: list[str] = []
        for line in lines[1:]:
            if pending or (line.strip() and not line.lstrip().startswith("#")):
                pending.append(line)
                if not line.endswith("\\"):
                    block.commands.append(Command("\n".join(pending)))
                    pending = []
            elif line.startswith("# {") and block.commands:
                block.commands[-1].expected = json.loads(line[2:])
        blocks.append(block)
    return blocks


def clone_files(into: Path) -> None:
    """The repository's files as a clone has them (tracked, or new and not ignored), with this
    checkout's ``.venv`` (``make`` then finds hookline installed and does not reinstall)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)  # keeps mtimes: make compares pyproject.toml with the stamp
    (into / ".venv").symlink_to(REPO / ".venv")


def shell_environment(port: int) -> dict[str, str]:
    """A user's shell: no hookline settings, no virtualenv, no ``hookline`` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKLINE_", "VIRTUAL_ENV"))}
    path = [d for d in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if not (Path(d) / "hookline").exists()]
    return {**env, "PATH": os.pathsep.join(path), "HOOKLINE_PORT": str(port)}


class Terminal:
    """One bash process, fed commands on stdin; stdout and stderr collected as lines."""

    def __init__(self, name: str, cwd: Path, env: dict[str, str]) -> None:
        self.name, self.cwd, self.env = name, cwd, env
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.count = 0

    async def open(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "bash",
            "--noprofile",
            "--norc",
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C (SIGINT) reaches what it runs
        )
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    async def send(self, command: str) -> str:
        """Type ``command``; return the marker that will appear once it has finished."""
        assert self.process is not None and self.process.stdin is not None
        self.count += 1
        marker = f"__tour_{self.count}_exit="
        # stdin is the script itself: keep commands from reading it. The marker starts a line of its
        # own even after output without a final newline (curl's).
        self.process.stdin.write(f"{{ {command}\n}} </dev/null\nprintf '\\n%s%d\\n' {marker} $?\n".encode())
        await self.process.stdin.drain()
        return marker

    async def run(self, command: str, timeout: float = 60) -> tuple[int, list[str]]:
        """Run ``command`` to its end: its exit status and its output lines."""
        start = len(self.lines)
        marker = await self.send(command)
        await wait_for(
            lambda: any(line.startswith(marker) for line in self.lines[start:]), timeout=timeout, what=command
        )
        output = self.lines[start:]
        end = next(i for i, line in enumerate(output) if line.startswith(marker))
        return int(output[end].removeprefix(marker)), [line for line in output[:end] if line]

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the terminal's foreground processes."""
        if self.process is not None and self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGINT)

    async def close(self) -> None:
        if self.process is None:
            return
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()
        if self.reader is not None:
            await self.reader

    def transcript(self) -> str:
        return f"--- {self.name} ---\n" + "\n".join(self.lines)


def _json_answers(output: list[str]) -> Iterator[Any]:
    for line in output:
        if line.startswith(("{", "[")):
            yield json.loads(line)


def _matches(answer: Any, sample: Any) -> bool:
    """The sample's keys are all there, and each value without a placeholder (…) is equal."""
    return isinstance(answer, dict) and all(
        key in answer and ("…" in str(value) or answer[key] == value) for key, value in sample.items()
    )


@pytest.mark.slow
async def test_the_readme_tour_works_pasted_command_by_command(tmp_path: Path) -> None:
    venv = REPO / ".venv"
    needed = {"make": shutil.which("make"), "curl": shutil.which("curl"), ".venv": (venv / "bin" / "hookline").exists()}
    missing = [name for name, found in needed.items() if not found]
    if missing:
        message = f"the tour needs {', '.join(missing)} (run `make install` for .venv)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    stamp, pyproject = venv / ".install-stamp", REPO / "pyproject.toml"
    # A stale stamp makes `make run` reinstall: into this checkout's .venv, from the copy. Refuse.
    assert stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime, "run `make install` first"

    blocks = tour_blocks((REPO / "README.md").read_text())
    assert [b.terminal for b in blocks] == ["terminal 1", "terminal 2", "terminal 3"]
    port = free_port()
    for block in blocks:
        for command in block.commands:
            command.text = command.text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            assert "8080" not in command.text, f"a tour command names port 8080 another way: {command.text}"
    clone = tmp_path / "hookline"
    clone.mkdir()
    clone_files(clone)
    env = shell_environment(port)
    terminals = [Terminal(block.terminal, clone, env) for block in blocks]
    try:
        for terminal, block in zip(terminals, blocks, strict=True):
            await terminal.open()
            commands = block.commands[:-1] if block.keeps_running else block.commands
            for command in commands:
                status, output = await terminal.run(command.text)
                assert status == 0, f"{command.text}\n exited {status}:\n" + "\n".join(output)
                assert not any("Traceback" in line for line in output), "\n".join(output)
                for answer in _json_answers(output):
                    is_error = isinstance(answer, dict) and isinstance(answer.get("error"), dict)
                    assert not is_error, f"{command.text}\n{answer}"
                if command.expected is not None:
                    answers = list(_json_answers(output))
                    assert answers and _matches(answers[-1], command.expected), f"{command.text}\n{output}"
            if block.keeps_running:
                await _start_and_wait(terminal, block.commands[-1].text, port)

        # Terminal 2's `hookline listen` printed each event of the job, verified.
        listener = terminals[1]
        for kind in ("job.submitted", "job.progress", "job.succeeded"):
            await wait_for(
                lambda kind=kind: any(kind in line and "order-7f3a9c" in line for line in listener.lines),
                timeout=20,
                what=f"hookline listen to print {kind}\n{listener.transcript()}",
            )
        assert any("passed signature verification" in line for line in listener.lines)
        assert not any("refused a delivery" in line for line in listener.lines)
    finally:
        for terminal in reversed(terminals):  # Ctrl-C: listen unsubscribes while hookline still runs
            terminal.interrupt()
            if terminal.process is not None and terminal.process.stdin is not None:
                terminal.process.stdin.close()
            await terminal.close()
        print("\n".join(t.transcript() for t in terminals))  # pytest shows it when the test fails
    assert any(line.startswith("unsubscribed sub_") for line in terminals[1].lines), terminals[1].transcript()


async def _start_and_wait(terminal: Terminal, command: str, port: int) -> None:
    """Start a command that keeps running, and wait until it is ready."""
    marker = await terminal.send(command)
    if "make run" in command:

        async def ready() -> bool:
            try:
                async with httpx.AsyncClient(timeout=1) as client:
                    return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(ready, timeout=60, interval=0.1, what=f"{command}\n{terminal.transcript()}")
    elif "hookline listen" in command:
        await wait_for(
            lambda: any(line.startswith(("listening on", marker)) for line in terminal.lines),
            timeout=30,
            what=f"{command}\n{terminal.transcript()}",
        )
        assert any(line.startswith("listening on") for line in terminal.lines), terminal.transcript()
    else:
        raise AssertionError(f"the test does not know when {command!r} is ready")
