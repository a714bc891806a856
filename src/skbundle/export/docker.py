"""``skbundle export docker``: a container recipe that serves one bundle.

The recipe's directory is the build context::

    Dockerfile           slim Python pinned to the bundle's, non-root user, HEALTHCHECK on
                         /v2/health/ready, the bundle verified at build time, skbundle serve
    requirements.txt     the pinned requirements of the runtime it serves
    skbundle-*.whl       skbundle itself (not on PyPI): the wheel the image installs
    bundle/              a verified copy of the bundle
    README.md            build, run, configure
    .dockerignore        only the files above are sent to the builder

At run time the image reads ``SKBUNDLE_WORKERS``, ``SKBUNDLE_PORT``, ``SKBUNDLE_HOST`` and the
API key from ``SKBUNDLE_API_KEY`` (or ``--api-key-file`` on a mounted secret): never baked
into the image.

Everything the recipe says that comes from the bundle is checked first: the Python version
must be ``MAJOR.MINOR.PATCH`` and every requirement a plain ``NAME==VERSION`` pin, and the name
and version are the manifest's validated ones, so no bundle can add a line to the Dockerfile.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from skbundle.core.atomic import write_directory
from skbundle.export._files import (
    BUNDLE_DIR,
    choose_runtime,
    copy_bundle,
    python_version,
    runtime_requirements,
    skbundle_wheel,
)

APP = "/app"
"""Where the image holds the recipe's files."""
UID = 10001
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class DockerExport:
    """What :func:`export_docker` wrote."""

    directory: Path
    runtime: str
    python: str
    wheel: str
    """The wheel's file name, inside ``directory``."""
    requirements: str
    """Which bundle file the requirements came from."""


def dockerfile(
    *, name: str, version: str, python: str, runtime: str, wheel: str, trust_pickle: bool
) -> str:
    """The Dockerfile's text (see the module docstring)."""
    trust = " --trust-pickle" if trust_pickle else ""
    serve = (
        f'exec skbundle serve {APP}/{BUNDLE_DIR} --host "$SKBUNDLE_HOST" '
        f'--port "$SKBUNDLE_PORT" --workers "$SKBUNDLE_WORKERS" --runtime {runtime}{trust} "$@"'
    )
    probe = (
        "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v2/health/ready'"
        " % os.environ.get('SKBUNDLE_PORT', '8000'), timeout=2)"
    )
    # Exec form, as JSON: the shell only expands the variables; "$@" passes docker run's
    # extra arguments on to skbundle serve.
    entrypoint = json.dumps(["/bin/sh", "-c", serve, "skbundle-serve"])
    healthcheck = json.dumps(["python", "-c", probe])
    return f"""\
# Serves the skbundle bundle {name} {version} ({runtime} runtime).
# Written by 'skbundle export docker'; build with: docker build -t {name}:{version} .
FROM python:{python}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    SKBUNDLE_HOST=0.0.0.0 \\
    SKBUNDLE_PORT={DEFAULT_PORT} \\
    SKBUNDLE_WORKERS=1

RUN useradd --system --no-create-home --uid {UID} skbundle

WORKDIR {APP}
COPY requirements.txt {wheel} {APP}/
RUN python -m pip install -r {APP}/requirements.txt {APP}/{wheel}

# Owned by root, read-only to the server; verified now, so a damaged copy fails the build.
COPY {BUNDLE_DIR} {APP}/{BUNDLE_DIR}
RUN skbundle verify {APP}/{BUNDLE_DIR}

USER {UID}
EXPOSE {DEFAULT_PORT}
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \\
    CMD {healthcheck}
ENTRYPOINT {entrypoint}
"""


DOCKERIGNORE = f"""\
# Only the recipe's own files reach the builder.
*
!requirements.txt
!skbundle-*.whl
!{BUNDLE_DIR}/
"""


def _readme(name: str, version: str, runtime: str, requirements: str) -> str:
    tag = f"{name}:{version}"
    return f"""\
# {name} {version} in a container

Written by `skbundle export docker`. The image serves the bundle in `{BUNDLE_DIR}/` with
`skbundle serve` on the **{runtime}** runtime; `requirements.txt` is the bundle's
`{requirements}` (what that runtime needs, pinned to the versions that built the bundle).

```bash
docker build -t {tag} .
docker run --rm -p 8000:8000 -e SKBUNDLE_API_KEY="$(cat api-key)" {tag}
curl -s localhost:8000/v2/health/ready
```

| variable | default | what |
|---|---|---|
| `SKBUNDLE_PORT` | `{DEFAULT_PORT}` | port inside the container |
| `SKBUNDLE_WORKERS` | `1` | worker processes, each with the model |
| `SKBUNDLE_HOST` | `0.0.0.0` | address to listen on |
| `SKBUNDLE_API_KEY` | none | require `Authorization: Bearer KEY` on predictions |

Pass the API key at run time (`-e`, or mount a secret and add `--api-key-file
/run/secrets/key` after the image name: extra arguments go to `skbundle serve`); never bake it
into the image. The build runs `skbundle verify` on the bundle, so a damaged or edited copy
fails the build; the server verifies it again at every start. The server runs as the
unprivileged user {UID} and cannot change the bundle. The health check probes
`/v2/health/ready`.
"""


def export_docker(
    bundle: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    runtime: str = "auto",
    trust_pickle: bool = False,
    skbundle_wheel_path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> DockerExport:
    """Write a container recipe that serves ``bundle`` into the new directory ``out``.

    Parameters
    ----------
    bundle
        The bundle directory; it is verified, and copied from the verified bytes.
    out
        The recipe's directory (the build context), written atomically.
    runtime
        ``auto`` (the runtime ``load()`` picks without trusting a pickle) or a format.
    trust_pickle
        Needed to serve the joblib runtime; the container is then started with
        ``--trust-pickle``.
    skbundle_wheel_path
        skbundle's wheel to install in the image; by default one is built from the source
        tree this skbundle runs from.
    overwrite
        Replace ``out`` if it is an earlier recipe (a directory holding a Dockerfile).

    Returns
    -------
    DockerExport

    Raises
    ------
    BundleIntegrityError
        The bundle is damaged: nothing is written.
    ExportError
        ``out`` exists, the bundle's Python version or requirements cannot go into a
        Dockerfile, or no skbundle wheel can be had.
    RuntimeUnavailableError
        The runtime is not in the bundle.

    Examples
    --------
    >>> export_docker("models/cancer", "deploy/cancer")
    DockerExport(directory=PosixPath('deploy/cancer'), runtime='onnx', python='3.11.7', ...)
    """
    target = Path(out)

    def build(tmp: Path) -> DockerExport:
        manifest = copy_bundle(bundle, tmp / BUNDLE_DIR)
        chosen = choose_runtime(manifest, runtime, trust_pickle=trust_pickle)
        python = python_version(manifest)
        requirements = runtime_requirements(tmp / BUNDLE_DIR, chosen)
        wheel = skbundle_wheel(tmp, skbundle_wheel_path).name
        (tmp / "requirements.txt").write_text(requirements.text, encoding="utf-8")
        recipe = dockerfile(
            name=manifest.name,
            version=manifest.version,
            python=python,
            runtime=chosen,
            wheel=wheel,
            trust_pickle=trust_pickle and chosen == "joblib",
        )
        (tmp / "Dockerfile").write_text(recipe, encoding="utf-8")
        (tmp / ".dockerignore").write_text(DOCKERIGNORE, encoding="utf-8")
        readme = _readme(manifest.name, manifest.version, chosen, requirements.source)
        (tmp / "README.md").write_text(readme, encoding="utf-8")
        return DockerExport(target, chosen, python, wheel, requirements.source)

    return write_directory(target, build, overwrite=overwrite, marker="Dockerfile")
