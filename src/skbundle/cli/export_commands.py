"""``skbundle export``: a bundle for the platforms teams already run (MLflow, containers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from skbundle.cli._common import BundlePath, RuntimeOpt, TrustOpt, console, errors_to_exit, plain

export_app = typer.Typer(
    name="export",
    help="Export a bundle: an MLflow model directory, a container recipe, or the pinned "
    "requirements of one runtime.",
    no_args_is_help=True,
)

OutOpt = Annotated[Path, typer.Option("--out", help="The directory to write (must not exist).")]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace an earlier export at --out.")
]


@export_app.command("mlflow")
def mlflow_command(path: BundlePath, out: OutOpt, overwrite: OverwriteOpt = False) -> None:
    """Write an MLflow model directory, with the bundle inside, verified on load.

    MLmodel has a python_function flavour loaded by skbundle, the signature from the schema
    and an input example.

    Then: mlflow models serve -m OUT --env-manager local. Needs MLflow
    (pip install 'skbundle[mlflow]').
    """
    from skbundle.export import export_mlflow

    with errors_to_exit():
        done = export_mlflow(path, out, overwrite=overwrite)
    console.print(
        Text.assemble(
            "wrote ",
            plain(done.directory, "bold"),
            plain(f": MLflow model, {done.runtime} runtime, input example from the "),
            plain(done.example_source),
        )
    )


@export_app.command("docker")
def docker_command(
    path: BundlePath,
    out: OutOpt,
    runtime: RuntimeOpt = "auto",
    trust_pickle: TrustOpt = False,
    skbundle_wheel: Annotated[
        Path | None,
        typer.Option(
            "--skbundle-wheel",
            help="skbundle's wheel for the image to install (default: built with 'pip wheel "
            "--no-deps' from the source tree this skbundle runs from).",
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write a container recipe: Dockerfile, requirements, skbundle's wheel and a README.

    The Dockerfile starts from the slim Python of the bundle's version, runs as a non-root
    user, verifies the bundle at build time, has a HEALTHCHECK and runs skbundle serve.

    Then: docker build -t NAME OUT && docker run -p 8000:8000 -e SKBUNDLE_API_KEY=... NAME
    """
    from skbundle.export import export_docker

    with errors_to_exit():
        done = export_docker(
            path,
            out,
            runtime=runtime,
            trust_pickle=trust_pickle,
            skbundle_wheel_path=skbundle_wheel,
            overwrite=overwrite,
        )
    console.print(
        Text.assemble(
            "wrote ",
            plain(done.directory, "bold"),
            plain(
                f": Dockerfile on python:{done.python}-slim, {done.runtime} runtime, "
                f"requirements from {done.requirements}, {done.wheel}"
            ),
        )
    )


@export_app.command("requirements")
def requirements_command(path: BundlePath, runtime: RuntimeOpt = "auto") -> None:
    """Print the pinned requirements one runtime of the bundle needs.

    Verified against the manifest: pip install -r <(skbundle export requirements BUNDLE
    --runtime onnx)."""
    from skbundle.core.manifest import read_manifest
    from skbundle.export import choose_runtime, runtime_requirements

    with errors_to_exit():
        chosen = choose_runtime(read_manifest(path), runtime, trust_pickle=True)
        text = runtime_requirements(path, chosen).text
    console.print(plain(text.rstrip("\n"), multiline=True), soft_wrap=True)


def register(app: Any) -> None:
    app.add_typer(export_app)
