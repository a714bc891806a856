"""The model registry on SQLite (the embedded default): the API, the gate, the CLI, tampering,
bad input, and concurrent writers in separate processes."""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from skbundle import load
from skbundle.cli import app
from skbundle.errors import (
    BundleExistsError,
    BundleIntegrityError,
    PromotionRefusedError,
    RegistryConflictError,
    RegistryError,
    RegistryIntegrityError,
    RegistryLookupError,
    RegistryUnavailableError,
)
from skbundle.lifecycle import promote
from skbundle.registry import GateRecord, Registry, RegistrySource, parse_model_uri
from skbundle.registry._blobs import blob_path
from tests.registry_fixtures import (
    GATE_REQUESTS,
    NAME,
    UNBENCHED_FAILURES,
    Bundles,
    check_after_workers,
    core_flow,
    refused_message,
    registry_bundles,
    run_workers,
)

__all__ = ["registry_bundles"]  # the fixture, imported so pytest finds it here

runner = CliRunner()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry.open(tmp_path / "reg") as reg:
        yield reg


def blob_files(reg: Registry) -> list[Path]:
    assert reg.directory is not None
    return sorted(p for p in (reg.directory / "blobs").rglob("*") if p.is_file())


# -- the API ------------------------------------------------------------------------------
def test_core_flow(registry: Registry, registry_bundles: Bundles, tmp_path: Path) -> None:
    core_flow(registry, registry_bundles, tmp_path)


def test_push_records_the_manifest_and_stores_each_file_once(
    registry: Registry, registry_bundles: Bundles
) -> None:
    first = registry.push(registry_bundles.v1)
    manifest = load(registry_bundles.v1).manifest
    assert first.metrics == orjson.loads(orjson.dumps(manifest.metrics))
    assert first.pushed_by == getpass.getuser()
    raw = (registry_bundles.v1 / "bundle.json").read_bytes()
    assert first.bundle_sha256 == hashlib.sha256(raw).hexdigest()
    listed = {a.path: a.sha256 for a in manifest.artifacts}
    assert {f.path: f.sha256 for f in first.files} == {**listed, "bundle.json": first.bundle_sha256}
    registry.push(registry_bundles.v2)  # the same files but bundle.json
    assert len(blob_files(registry)) == len(first.files) + 1
    for path in blob_files(registry):  # content-addressed: each name is its bytes' hash
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
        assert path.parent.name == path.name[:2]


def test_pushing_the_same_version_with_other_bytes_is_refused(
    registry: Registry, registry_bundles: Bundles, tmp_path: Path
) -> None:
    first = registry.push(registry_bundles.v1)
    other = tmp_path / "other"
    import shutil

    shutil.copytree(registry_bundles.v2, other)
    from tests.readiness_helpers import edit_manifest

    edit_manifest(other, version="1.0.0", description="same version, other bytes")
    with pytest.raises(RegistryConflictError) as caught:
        registry.push(other)
    assert str(caught.value) == (
        f"Cannot push {NAME}@1.0.0: the registry {registry.location} already holds "
        f"{NAME}@1.0.0 with other bytes (files that differ: ['bundle.json']; pushed by "
        f"{first.pushed_by} at {first.pushed_at}). A version's bytes never change: give the "
        "bundle a new version (skbundle.save(..., version='X.Y.Z')) and push that."
    )
    assert registry.show(f"{NAME}@1.0.0") == first


def test_a_tampered_bundle_is_not_pushed(registry: Registry, bundle_copy: Path) -> None:
    with (bundle_copy / "model.onnx").open("r+b") as f:
        f.seek(100)
        f.write(b"\x00")
    with pytest.raises(BundleIntegrityError, match=r"model\.onnx has sha256"):
        registry.push(bundle_copy)
    assert registry.list() == []
    assert blob_files(registry) == []


def test_a_crash_mid_push_leaves_no_version(
    registry: Registry, registry_bundles: Bundles, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skbundle.registry._blobs import LocalBlobs

    real = LocalBlobs.write
    written: list[str] = []

    def dies_on_the_fourth(self: LocalBlobs, sha: str, data: bytes) -> None:
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        written.append(sha)
        real(self, sha, data)

    monkeypatch.setattr(LocalBlobs, "write", dies_on_the_fourth)
    with pytest.raises(RegistryUnavailableError, match="No space left on device"):
        registry.push(registry_bundles.v1)
    assert registry.list() == []  # three blobs, but no version naming them
    assert len(blob_files(registry)) == 3
    monkeypatch.setattr(LocalBlobs, "write", real)
    assert registry.push(registry_bundles.v1).version == "1.0.0"


def test_the_gate_refuses_a_low_accuracy_and_force_is_recorded(
    registry: Registry, registry_bundles: Bundles
) -> None:
    registry.push(registry_bundles.v1)
    with pytest.raises(PromotionRefusedError) as caught:
        promote(registry, NAME, "production", "1.0.0", min_accuracy=0.99, requests=GATE_REQUESTS)
    evidence = caught.value.failures[0].evidence
    assert evidence.startswith("accuracy 0.9561 is below the threshold 0.9900")
    assert str(caught.value) == refused_message(
        "1.0.0", [("metrics", "Metrics recorded and above the threshold", "fail", evidence)]
    )
    assert registry.history(NAME) == []
    with pytest.raises(RegistryError) as no_reason:
        promote(registry, NAME, "production", "1.0.0", min_accuracy=0.99, force=True)
    assert str(no_reason.value) == (
        f"Cannot force {NAME}@production to 1.0.0: a forced move needs a reason for the audit "
        "log. Say why (CLI: --reason TEXT)."
    )
    event = promote(
        registry, NAME, "production", "1.0.0", min_accuracy=0.99, requests=GATE_REQUESTS,
        force=True, reason="accepted by the clinical lead",
    )  # fmt: skip
    assert (event.forced, event.gate.passed, event.reason) == (
        True, False, "accepted by the clinical lead",
    )  # fmt: skip
    assert event.gate.details["settings"]["min_accuracy"] == 0.99
    assert registry.history(NAME) == [event]


def test_a_required_signature_must_be_made_by_that_key(
    registry: Registry, registry_bundles: Bundles, tmp_path: Path
) -> None:
    registry.push(registry_bundles.v1)
    registry.push(registry_bundles.signed)
    key_a, key_b = tmp_path / "a.pub", tmp_path / "b.pub"
    key_a.write_bytes(registry_bundles.public_a)
    key_b.write_bytes(registry_bundles.public_b)
    with pytest.raises(PromotionRefusedError) as unsigned:
        promote(registry, NAME, "production", "1.0.0", require_signature=key_a, requests=50)
    assert [(f.key, f.evidence) for f in unsigned.value.failures] == [
        ("signature", "a signature is required and the bundle has none (signature.json is missing)")
    ]
    with pytest.raises(PromotionRefusedError) as other_key:
        promote(registry, NAME, "production", "1.2.0", require_signature=key_b, requests=50)
    assert [f.key for f in other_key.value.failures] == ["signature"]
    assert other_key.value.failures[0].evidence.startswith("it was made with key ")
    event = promote(registry, NAME, "production", "1.2.0", require_signature=key_a, requests=50)
    assert event.gate.passed and "; signed by key " in event.gate.summary


def test_pull_writes_a_verified_bundle_and_refuses_to_overwrite(
    registry: Registry, registry_bundles: Bundles, tmp_path: Path
) -> None:
    registry.push(registry_bundles.v1)
    out = tmp_path / "out"
    registry.pull(f"{NAME}@1.0.0", out)
    for f in registry.show(f"{NAME}@1.0.0").files:
        assert (out / f.path).read_bytes() == (registry_bundles.v1 / f.path).read_bytes()
    assert load(out).predict_proba is not None
    with pytest.raises(BundleExistsError):
        registry.pull(f"{NAME}@1.0.0", out)
    registry.pull(f"{NAME}@1.0.0", out, overwrite=True)


@pytest.mark.parametrize("damage", ["changed", "missing"])
def test_a_damaged_blob_is_found_on_pull_and_nothing_is_written(
    registry: Registry, registry_bundles: Bundles, tmp_path: Path, damage: str
) -> None:
    version = registry.push(registry_bundles.v1)
    onnx = next(f for f in version.files if f.path == "model.onnx")
    assert registry.directory is not None
    blob = registry.directory / "blobs" / blob_path(onnx.sha256)
    if damage == "changed":
        os.chmod(blob, 0o644)
        blob.write_bytes(blob.read_bytes()[:-1] + b"\x01")
        actual = hashlib.sha256(blob.read_bytes()).hexdigest()
        problem = f"model.onnx has sha256 {actual}, the manifest expects {onnx.sha256}"
    else:
        blob.unlink()
        problem = "model.onnx is listed in the manifest but missing"
    with pytest.raises(RegistryIntegrityError) as caught:
        registry.pull(f"{NAME}@1.0.0", tmp_path / "out")
    assert str(caught.value) == (
        f"{NAME}@1.0.0 in the registry {registry.location} failed verification: {problem}. "
        "Nothing was written. The blob store was changed outside skbundle: push an intact copy "
        "of the bundle again (it rewrites blobs that do not match their hash)."
    )
    assert isinstance(caught.value, BundleIntegrityError)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["reg"]  # no temporary sibling left
    registry.push(registry_bundles.v1)  # repairs the blob
    registry.pull(f"{NAME}@1.0.0", tmp_path / "out")


def test_rollback_walks_back_one_move_at_a_time(
    registry: Registry, registry_bundles: Bundles
) -> None:
    for bundle in (registry_bundles.v1, registry_bundles.v2, registry_bundles.signed):
        v = registry.push(bundle)
        registry.set_alias(NAME, "staging", v.version, gate=GateRecord(True, "t"), forced=False,
                           reason="")  # fmt: skip
    assert registry.rollback(NAME, "staging").to_version == "1.1.0"
    assert registry.rollback(NAME, "staging").to_version == "1.0.0"
    with pytest.raises(RegistryError) as caught:
        registry.rollback(NAME, "staging")
    assert str(caught.value) == (
        f"Cannot roll back {NAME}@staging: it has no earlier version to go back to (it points "
        "at 1.0.0, and every earlier move was rolled back or it was set only once). Move it "
        "with 'skbundle registry alias NAME ALIAS VERSION' instead."
    )
    registry.set_alias(NAME, "staging", "1.2.0", gate=GateRecord(True, "t"), forced=False,
                       reason="")  # fmt: skip
    assert registry.rollback(NAME, "staging").to_version == "1.0.0"
    registry.set_alias(NAME, "staging", "1.1.0", gate=GateRecord(True, "t"), forced=False,
                       reason="")  # fmt: skip
    registry.set_alias(NAME, "staging", "1.2.0", gate=GateRecord(True, "t"), forced=False,
                       reason="")  # fmt: skip
    registry.delete(NAME, "1.0.0")
    assert registry.rollback(NAME, "staging").to_version == "1.1.0"
    with pytest.raises(RegistryLookupError, match=r"Version breast-cancer@1.0.0: it is not"):
        registry.rollback(NAME, "staging")


def test_set_alias_refuses_a_failed_gate_unless_forced(
    registry: Registry, registry_bundles: Bundles
) -> None:
    registry.push(registry_bundles.v1)
    with pytest.raises(RegistryError) as caught:
        registry.set_alias(NAME, "production", "1.0.0", gate=GateRecord(False, "fail (x)"),
                           forced=False, reason="")  # fmt: skip
    assert str(caught.value) == (
        f"Cannot move {NAME}@production to 1.0.0: its gate did not pass (fail (x)). Fix what "
        "blocks it, or force the move with a reason."
    )
    assert registry.history(NAME) == []


def test_blobs_in_an_fsspec_store(registry_bundles: Bundles, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}?blobs=memory://skbundle-test-{os.getpid()}"
    with Registry.open(url) as reg:
        reg.push(registry_bundles.v1)
        reg.pull(f"{NAME}@1.0.0", tmp_path / "out")
    assert load(tmp_path / "out").manifest.version == "1.0.0"
    assert not (tmp_path / "blobs").exists()


def test_migrations_match_the_models(registry: Registry) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from skbundle.registry import migrations
    from skbundle.registry._schema import Base

    with registry.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == migrations.head() == migrations.HEAD
        assert compare_metadata(context, Base.metadata) == []


# -- sources for the server ---------------------------------------------------------------
def test_registry_source_follows_the_alias(registry: Registry, registry_bundles: Bundles) -> None:
    for bundle in (registry_bundles.v1, registry_bundles.v2):
        registry.push(bundle)
    registry.set_alias(NAME, "production", "1.0.0", gate=GateRecord(True, "t"), forced=False,
                       reason="")  # fmt: skip
    source = RegistrySource(f"models:/{NAME}@production", registry=registry.location)
    first = source.current()
    v1 = registry.show(f"{NAME}@1.0.0")
    assert (first.version, first.token) == ("1.0.0", f"{NAME}/1.0.0/{v1.bundle_sha256}")
    assert first.path.parent.parent == Path(registry.location) / "cache"
    assert load(first.path).manifest.version == "1.0.0"
    assert source.current() == first  # nothing moved: same token, same directory
    registry.set_alias(NAME, "production", "1.1.0", gate=GateRecord(True, "t"), forced=False,
                       reason="")  # fmt: skip
    second = source.current()
    assert second.version == "1.1.0" and second.token != first.token
    fixed = RegistrySource(f"models:/{NAME}/1.0.0", registry=registry.location)
    assert fixed.current() == first
    source.close()
    fixed.close()


# -- bad input ----------------------------------------------------------------------------
BAD_URIS = [
    pytest.param(
        "runs:/abc/model", "Model URI 'runs:/abc/model': it does not start with 'models:/'; "
        "expected models:/NAME@ALIAS or models:/NAME/VERSION. e.g. "
        "models:/breast-cancer@production, or give a bundle directory instead.",
        id="other-scheme",
    ),
    pytest.param(
        "models:/breast-cancer", "Model URI 'models:/breast-cancer': expected models:/NAME@ALIAS"
        " or models:/NAME/VERSION. e.g. models:/breast-cancer@production or "
        "models:/breast-cancer/1.0.0.",
        id="no-alias-or-version",
    ),
    pytest.param(
        "models:/breast-cancer@Production", "Model URI 'models:/breast-cancer@Production': "
        "alias 'Production' is not a valid alias name. Use lowercase letters, digits, '_' and "
        "'-', starting with a letter, at most 64 characters, e.g. 'production' or 'staging'.",
        id="alias-uppercase",
    ),
    pytest.param(
        "models:/breast-cancer/1.0", "Model URI 'models:/breast-cancer/1.0': version '1.0' is "
        "not a semantic version. Use MAJOR.MINOR.PATCH, e.g. '1.0.0', as in the bundle's "
        "manifest.",
        id="version-not-semver",
    ),
    pytest.param(
        "models:/-etc@prod", "Model URI 'models:/-etc@prod': name '-etc' is not a valid "
        "bundle name: use letters, digits, '.', '_' and '-', starting with a letter or digit, at"
        " most 128 characters. A model is named by its bundle's manifest, e.g. 'breast-cancer'.",
        id="name-starts-with-a-dash",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("uri", "message"), BAD_URIS)
def test_bad_model_uris(uri: str, message: str) -> None:
    with pytest.raises(RegistryError) as caught:
        parse_model_uri(uri)
    assert type(caught.value) is RegistryError
    assert str(caught.value) == message


def test_good_model_uris() -> None:
    assert str(parse_model_uri("models:/breast-cancer@production")) == "breast-cancer@production"
    assert parse_model_uri("models:/breast-cancer/1.2.3-rc.1").version == "1.2.3-rc.1"


BAD_REFS = [
    pytest.param(
        "nope", RegistryLookupError, "Model 'nope': it is not in the registry {loc}. Models "
        "there: ['breast-cancer']. Push it with 'skbundle registry push BUNDLE_DIR'.",
        id="unknown-model",
    ),
    pytest.param(
        "breast-cancer@9.9.9", RegistryLookupError, "Version breast-cancer@9.9.9: it is not in "
        "the registry {loc}. Versions of 'breast-cancer': ['1.0.0'].",
        id="unknown-version",
    ),
    pytest.param(
        "breast-cancer@staging", RegistryLookupError, "Alias breast-cancer@staging: "
        "'breast-cancer' has no alias 'staging'. Its aliases: []. Set one with 'skbundle "
        "registry alias breast-cancer staging VERSION'.",
        id="unknown-alias",
    ),
    pytest.param(
        "breast-cancer@", RegistryError, "Reference 'breast-cancer@': alias '' is not a valid "
        "alias name. Use lowercase letters, digits, '_' and '-', starting with a letter, at "
        "most 64 characters, e.g. 'production' or 'staging'.",
        id="empty-tail",
    ),
    pytest.param(
        "breast-cancer@1.0", RegistryError, "Reference 'breast-cancer@1.0': version '1.0' is "
        "not a semantic version. Use MAJOR.MINOR.PATCH, e.g. '1.0.0', as in the bundle's "
        "manifest.",
        id="short-version",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("ref", "error", "message"), BAD_REFS)
def test_bad_references(
    registry: Registry, registry_bundles: Bundles, ref: str, error: type, message: str
) -> None:
    registry.push(registry_bundles.v1)
    with pytest.raises(RegistryError) as caught:
        registry.show(ref)
    assert type(caught.value) is error
    assert str(caught.value) == message.format(loc=registry.location)


def test_bad_locations(tmp_path: Path) -> None:
    with pytest.raises(RegistryUnavailableError) as missing:
        Registry.open(tmp_path / "none", create=False)
    assert str(missing.value) == (
        f"Registry {tmp_path / 'none'}: there is no registry there (no registry.db). Push a "
        "bundle first ('skbundle registry push BUNDLE_DIR'), or point --registry / "
        "SKBUNDLE_REGISTRY at an existing registry."
    )
    with pytest.raises(RegistryUnavailableError) as no_blobs:
        Registry.open("postgresql://u:secret@db.example/reg")
    assert str(no_blobs.value) == (
        "Registry postgresql+psycopg://u:***@db.example/reg: a database registry needs a place "
        "for its blobs. Give blobs=DIR_OR_URL (CLI: --blobs, or SKBUNDLE_REGISTRY_BLOBS), or "
        "add ?blobs=DIR_OR_URL to the URL."
    )


# -- concurrency --------------------------------------------------------------------------
def test_parallel_processes_never_corrupt_the_store(
    registry_bundles: Bundles, tmp_path: Path
) -> None:
    location = str(tmp_path / "shared")
    dirs = [registry_bundles.v1, registry_bundles.v2, registry_bundles.signed]
    run_workers(location, None, dirs, n=4, moves=5)
    with Registry.open(location) as reg:
        check_after_workers(reg, dirs, 4, 5, tmp_path)
        assert len(blob_files(reg)) == len(reg.show(f"{NAME}@1.0.0").files) + 3


# -- the command line ---------------------------------------------------------------------
def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["registry", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def flat(text: str) -> str:
    return " ".join(text.split())


def test_cli_flow(
    registry_bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKBUNDLE_REGISTRY", str(tmp_path / "reg"))
    code, out, err = cli("list")
    assert (code, out) == (1, "")
    assert flat(err).startswith(f"error: Registry {tmp_path / 'reg'}: there is no registry there")
    assert cli("push", str(registry_bundles.v1)) == (0, f"{NAME}@1.0.0\n", "")
    assert cli("push", str(registry_bundles.unbenched))[:2] == (0, f"{NAME}@2.0.0\n")
    code, out, _ = cli("list", "--json")
    assert [v["version"] for v in orjson.loads(out)] == ["1.0.0", "2.0.0"]

    code, out, _ = cli("alias", NAME, "production", "1.0.0", "--requests", "50")
    assert code == 0
    assert flat(out).startswith(f"{NAME}@production -> 1.0.0 (new alias); gate: pass (")
    code, out, err = cli("alias", NAME, "production", "2.0.0", "--requests", "50")
    assert (code, out) == (1, "")
    assert flat(err) == flat("error: " + refused_message("2.0.0", UNBENCHED_FAILURES))
    assert "Traceback" not in err
    code, out, _ = cli("alias", NAME, "production", "2.0.0", "--requests", "50", "--force",
                       "--reason", "hotfix", "--json")  # fmt: skip
    event = orjson.loads(out)
    assert (code, event["forced"], event["reason"], event["gate"]["passed"]) == (
        0, True, "hotfix", False,
    )  # fmt: skip

    code, out, err = cli("delete", f"{NAME}@2.0.0")
    assert code == 1
    assert flat(err) == (
        f"error: Cannot delete {NAME}@2.0.0: the alias 'production' points at it. Move it to "
        f"another version first ('skbundle registry alias {NAME} production VERSION')."
    )
    code, out, _ = cli("rollback", NAME, "production")
    assert flat(out) == (
        f"{NAME}@production -> 1.0.0 (was 2.0.0); gate: not checked: rollback from 2.0.0 to "
        "1.0.0, which @production served before"
    )
    assert cli("delete", f"{NAME}@2.0.0") == (0, f"deleted {NAME}@2.0.0\n", "")
    code, out, _ = cli("pull", f"{NAME}@production", "--out", str(tmp_path / "pulled"))
    assert (code, out) == (0, f"{NAME}@1.0.0 -> {tmp_path / 'pulled'}\n")
    assert load(tmp_path / "pulled").manifest.version == "1.0.0"

    code, out, _ = cli("history", NAME, "--json")
    assert [(e["action"], e["to_version"], e["forced"]) for e in orjson.loads(out)] == [
        ("move", "1.0.0", False), ("move", "2.0.0", True), ("rollback", "1.0.0", False),
    ]  # fmt: skip
    code, out, _ = cli("history", NAME)
    assert code == 0 and "FORCED" in out and "hotfix" in out
    code, out, _ = cli("show", f"{NAME}@production")
    assert code == 0 and flat(out).startswith(f"{NAME}@1.0.0 task: classification aliases: "
                                               "@production")  # fmt: skip
    code, out, _ = cli("show", f"{NAME}@production", "--json")
    assert orjson.loads(out)["aliases"] == ["production"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["show", "nope@Prod"], "error: Reference 'nope@Prod': alias 'Prod' is not a valid "
            "alias name. Use lowercase letters, digits, '_' and '-', starting with a letter, at "
            "most 64 characters, e.g. 'production' or 'staging'.",
            id="show-bad-alias",
        ),
        pytest.param(
            ["delete", "breast-cancer@production"], "error: Cannot delete "
            "'breast-cancer@production': expected NAME@VERSION (an alias or a bare name could "
            "name another version tomorrow). Give the version, e.g. 'skbundle registry delete "
            "breast-cancer@1.0.0'.",
            id="delete-an-alias",
        ),
        pytest.param(
            ["alias", "breast-cancer", "production", "1.0.0", "--min-r2", "0.5"],
            "error: Threshold min_r2 (--min-r2) does not apply to the bundle 'breast-cancer': "
            "it is a classifier; expected a classifier's threshold min_accuracy "
            "(--min-accuracy). Leave min_r2 out, or check a regressor.",
            id="threshold-of-the-other-task",
        ),
    ],
)  # fmt: skip
def test_cli_errors(
    registry_bundles: Bundles, tmp_path: Path, args: list[str], message: str
) -> None:
    location = str(tmp_path / "reg")
    assert cli("push", str(registry_bundles.v1), "--registry", location)[0] == 0
    code, out, err = cli(*args, "--registry", location)
    assert (code, out) == (1, "")
    assert flat(err) == message


# -- the package and the demo -------------------------------------------------------------
def test_the_registry_package_pins_what_the_docs_teach() -> None:
    import skbundle.registry

    assert skbundle.registry.__all__ == [
        "DEFAULT_LOCATION",
        "ENV_BLOBS",
        "ENV_REGISTRY",
        "AliasEvent",
        "FileEntry",
        "GateRecord",
        "ModelVersion",
        "Ref",
        "Registry",
        "RegistrySource",
        "SourceState",
        "parse_model_uri",
        "parse_ref",
    ]


def test_the_demo_step_gets_a_fresh_registry_each_run(
    registry_bundles: Bundles, tmp_path: Path
) -> None:
    from skbundle.demo import RegistryStep, register

    location = tmp_path / "skbundle-registry"
    for _ in range(2):  # a second run replaces the demo's own registry
        step = register(registry_bundles.v1, location)
        assert isinstance(step, RegistryStep)
        assert step.event is not None, step.refused
        assert (step.version.ref, step.event.to_version) == (f"{NAME}@1.0.0", "1.0.0")
    with Registry.open(location) as reg:
        assert len(reg.history(NAME)) == 1
