"""Requirements per runtime, and the light core: ``pip install skbundle`` serves an ONNX
bundle without scikit-learn, pandas, matplotlib or skl2onnx."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

import skbundle
from skbundle.core import environment
from skbundle.core.integrity import verify
from skbundle.errors import MissingExtraError
from skbundle.export import runtime_requirements
from skbundle.readiness.items import parse_pins
from tests.conftest import Case
from tests.export_fixtures import LightVenv, light_venv

ROOT = Path(__file__).resolve().parents[1]
OLD_BUNDLE = ROOT / "tests" / "data" / "bundles" / "skbundle-0.1.0" / "iris-forest"
BUILD_ONLY = ("sklearn", "pandas", "matplotlib", "scipy", "skl2onnx", "skops", "pyarrow")
OTHER_EXTRAS = ("sqlalchemy", "alembic", "psycopg", "fsspec", "dask", "distributed", "pyspark")


@pytest.fixture(scope="session")
def light(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> LightVenv:
    return light_venv(cancer, tmp_path_factory)


def _pins(path: Path) -> dict[str, str]:
    return parse_pins(path.read_text(encoding="utf-8"))


def test_pyproject_core_and_build_extra_are_the_ones_skbundle_names() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [Requirement(r).name for r in project["dependencies"]]
    build = [Requirement(r).name for r in project["optional-dependencies"]["build"]]
    assert core == list(environment.SERVING)
    assert build == list(environment.BUILD)
    dev = [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    (itself,) = [r for r in dev if r.name == "skbundle"]
    assert {"build", "registry", "dask", "spark"} <= itself.extras


def test_each_runtime_pins_what_it_needs_and_no_build_tooling(cancer: Case) -> None:
    onnx = _pins(cancer.path / "requirements-onnx.txt")
    skops = _pins(cancer.path / "requirements-skops.txt")
    joblib = _pins(cancer.path / "requirements-joblib.txt")
    assert onnx["onnxruntime"] == metadata.version("onnxruntime")
    assert onnx["numpy"] == metadata.version("numpy")
    assert not {"scikit-learn", "pandas", "scipy"} & onnx.keys()
    assert skops["scikit-learn"] == joblib["scikit-learn"] == metadata.version("scikit-learn")
    assert "skops" in skops and "skops" not in joblib
    for pins in (onnx, skops, joblib):
        assert not {"matplotlib", "skl2onnx", "pyarrow"} & pins.keys(), pins
        assert set(environment.SERVING) <= pins.keys()
        assert pins["skbundle"] == environment.skbundle_version()
    # The default runtime's file, hashed in the manifest like every other file.
    assert _pins(cancer.path / "requirements.txt") == onnx
    manifest = skbundle.read_manifest(cancer.path)
    roles = {a.path: a.role for a in manifest.artifacts if a.format == "pip-requirements"}
    assert roles == {
        "requirements.txt": "requirements",
        "requirements-onnx.txt": "runtime-requirements",
        "requirements-skops.txt": "runtime-requirements",
        "requirements-joblib.txt": "runtime-requirements",
    }
    assert verify(cancer.path).ok


def test_a_bundle_older_than_per_runtime_files_exports_its_requirements_txt() -> None:
    found = runtime_requirements(OLD_BUNDLE, "onnx")
    assert found.source == "requirements.txt"
    assert found.pins == _pins(OLD_BUNDLE / "requirements.txt")
    assert "matplotlib" in found.pins  # what 0.1.0 pinned: the whole build environment


def test_the_default_runtimes_file_installs_exactly_its_pins(light: LightVenv) -> None:
    pins = _pins(light.recipe.directory / "requirements.txt")
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", light.python, "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {
        p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(listed.stdout)
    }
    assert {k: installed.get(k) for k in pins} == pins
    # The only packages beyond the pins are uvicorn[standard]'s extras, which pip resolves.
    assert set(installed) - set(pins) <= {
        "httptools", "python-dotenv", "pyyaml", "uvloop", "watchfiles", "websockets",
    }  # fmt: skip


def test_the_light_core_has_no_build_packages_and_says_so(light: LightVenv) -> None:
    for module in BUILD_ONLY:
        done = light.run(f"python -c 'import {module}'")
        assert f"ModuleNotFoundError: No module named '{module}'" in done.stderr, module
    demo = light.run("skbundle demo --out /tmp/never-written")
    assert demo.returncode == 1
    assert " ".join(demo.stderr.split()) == (
        "error: 'skbundle demo' needs skbundle's 'build' extra, which is not installed: the "
        "module 'pandas' cannot be imported. Install it with: pip install 'skbundle[build]'"
    )
    save = light.run("python -c 'import skbundle; skbundle.save'")
    assert save.stderr.splitlines()[-1] == (
        "skbundle.errors.MissingExtraError: skbundle.save needs skbundle's 'build' extra, which "
        "is not installed: the module 'pandas' cannot be imported. Install it with: pip "
        "install 'skbundle[build]'"
    )


def test_serving_an_onnx_bundle_imports_nothing_of_the_build_extra(cancer: Case) -> None:
    """Where every build package IS installed: load, the app, a request and the CLI import
    none of them (``python -X importtime`` lists every module imported)."""
    script = (
        "import asyncio, skbundle, httpx\n"
        "from skbundle.cli import app\n"
        "from skbundle.serve.app import create_app\n"
        f"a = create_app({str(cancer.path)!r})\n"
        "async def main():\n"
        "    async with a.router.lifespan_context(a):\n"
        "        t = httpx.ASGITransport(app=a)\n"
        "        async with httpx.AsyncClient(transport=t, base_url='http://x') as c:\n"
        f"            r = await c.post('/predict', json={cancer.X_test.iloc[0].to_dict()!r})\n"
        "            assert r.status_code == 200, r.text\n"
        "            assert (await c.get('/')).status_code == 200\n"
        "            assert (await c.get('/metrics')).status_code == 200\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "skbundle.serve.app" in imported and "onnxruntime" in imported
    assert not {m for m in imported if m.split(".")[0] in BUILD_ONLY}
    # nor of the registry, dask or spark extras (the server imports skbundle.registry for
    # its SourceState, which must not need SQLAlchemy)
    assert not {m for m in imported if m.split(".")[0] in OTHER_EXTRAS}


def test_a_missing_extra_is_named_with_its_install_command() -> None:
    exc = ModuleNotFoundError("No module named 'sqlalchemy'", name="sqlalchemy")
    found = environment.missing_extra(exc, "skbundle registry")
    assert isinstance(found, MissingExtraError) and isinstance(found, ImportError)
    assert str(found) == (
        "skbundle registry needs skbundle's 'registry' extra, which is not installed: the "
        "module 'sqlalchemy' cannot be imported. Install it with: pip install "
        "'skbundle[registry]'"
    )
    assert environment.missing_extra(ModuleNotFoundError("x", name="requests")) is None
