"""One fresh virtualenv per session, made by the container recipe's own install step.

``light_venv`` exports the cancer bundle as a container recipe (which builds skbundle's wheel
with ``pip wheel --no-deps``), creates an empty virtualenv and runs the recipe's ``RUN ... pip
install`` line in it. So the venv holds exactly what the image would: the default runtime's
pinned requirements and skbundle's light core, nothing of the ``build`` extra. The docker,
requirements and light-core tests share it: each of their modules has a session fixture
calling :func:`light_venv`, which makes the venv once, for whichever module asks first.

Two liberties, for time only, neither changing what is installed: pip runs from this test
environment (``pip --python VENV/bin/python``, so the venv needs no pip of its own) and with
``--no-compile`` (bytecode compilation is most of an install's time on a loaded machine).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from skbundle.export import DockerExport, export_docker
from tests.conftest import Case

APP = "/app"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str


def instructions(dockerfile: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    out: list[Instruction] = []
    pending = ""
    for line in dockerfile.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, argument = (pending + line).strip().partition(" ")
        out.append(Instruction(keyword.upper(), " ".join(argument.split())))
        pending = ""
    return out


def runs(dockerfile: str) -> list[str]:
    return [i.argument for i in instructions(dockerfile) if i.keyword == "RUN"]


def exec_form(dockerfile: str, keyword: str) -> list[str]:
    """The JSON array of ENTRYPOINT, or of HEALTHCHECK's CMD."""
    (argument,) = [i.argument for i in instructions(dockerfile) if i.keyword == keyword]
    if keyword == "HEALTHCHECK":
        argument = argument[argument.index(" CMD ") + len(" CMD ") :]
    value: list[str] = json.loads(argument)
    return value


def image_env(dockerfile: str) -> dict[str, str]:
    """The ENV the image sets."""
    env: dict[str, str] = {}
    for i in instructions(dockerfile):
        if i.keyword == "ENV":
            for pair in shlex.split(i.argument):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


@dataclass(frozen=True)
class LightVenv:
    recipe: DockerExport
    venv: Path

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def env(self, **extra: str) -> dict[str, str]:
        """The image's ENV, the venv first on PATH, and ``extra``."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SKBUNDLE_", "PYTHON"))}
        base["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{base['PATH']}"
        return {**base, **image_env(self.dockerfile), **extra}

    @property
    def dockerfile(self) -> str:
        return (self.recipe.directory / "Dockerfile").read_text(encoding="utf-8")

    def command(self, text: str) -> str:
        """A recipe command with the image's /app replaced by the recipe's directory."""
        return text.replace(APP, str(self.recipe.directory))

    def run(self, command: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/sh", "-c", self.command(command)],
            capture_output=True,
            text=True,
            env=self.env(**extra),
            cwd=self.recipe.directory,
            timeout=120,
            check=False,
        )


_MADE: dict[str, LightVenv] = {}
"""The session's venv (a fixture imported into two modules would be two fixtures)."""


def light_venv(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> LightVenv:
    """The session's light venv, made on the first call."""
    if "venv" not in _MADE:
        _MADE["venv"] = _make(cancer, tmp_path_factory)
    return _MADE["venv"]


def _make(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> LightVenv:
    root = tmp_path_factory.mktemp("light")
    started = time.monotonic()
    print("\n[light venv] export docker: building skbundle's wheel (pip wheel --no-deps)...")
    recipe = export_docker(cancer.path, root / "recipe")
    print(f"[light venv] wheel {recipe.wheel} in {time.monotonic() - started:.0f} s")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    light = LightVenv(recipe, venv)
    (install,) = [r for r in runs(light.dockerfile) if " pip install " in f" {r} "]
    words = shlex.split(light.command(install))
    assert words[:4] == ["python", "-m", "pip", "install"], words
    pip = [sys.executable, "-m", "pip", "--python", light.python, "install", "--no-compile"]
    print(f"[light venv] {install}  (pip uses its cache)...")
    # Without PYTHONPATH: a source tree on it holds skbundle's egg-info, and pip would take
    # skbundle for installed.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [*pip, *words[4:]], capture_output=True, text=True, timeout=600, check=False, env=clean
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"[light venv] ready in {time.monotonic() - started:.0f} s")
    return light


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(
    argv: list[str], ready_url: str, log: Path, *, env: dict[str, str], timeout: float = 90
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` in its own process group, wait until ``ready_url`` answers 200, and stop
    that group (the process we started and its workers) at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                why = f"{argv[0]} exited with {process.returncode}:\n"
                raise RuntimeError(why + log.read_text())
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not become ready:\n" + log.read_text())
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def copy_recipe(light: LightVenv, target: Path) -> Path:
    shutil.copytree(light.recipe.directory, target)
    return target
