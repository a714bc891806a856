"""The registry's schema migrations (Alembic), shipped with the package and run on open.

:func:`upgrade` brings a database to the newest revision in ``versions/``, inside one
transaction that holds the registry's write lock, so two processes opening a new registry at
once do not both create it. There is no ``env.py``: the environment is set up here, in code.

To change the schema: edit ``skbundle/registry/_schema.py``, then add
``versions/v000N_what.py`` with ``revision = "000N"``, ``down_revision`` the previous one,
and ``upgrade()``/``downgrade()`` written with ``alembic.op``;
``tests/test_registry.py::test_migrations_match_the_models`` fails until they agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

HERE = Path(__file__).parent


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision shipped with this skbundle."""
    revision = script_directory().get_current_head()
    assert revision is not None  # the package always ships at least one revision
    return revision


def upgrade(connection: Connection) -> None:
    """Run every revision newer than the database's on ``connection`` (already in a
    transaction holding the write lock): a no-op for a database at head."""
    config = _config()
    script = ScriptDirectory.from_config(config)

    def steps(rev: Any, context: Any) -> Any:
        return script._upgrade_revs("head", rev)

    with EnvironmentContext(config, script, fn=steps, destination_rev="head") as env:
        env.configure(connection=connection, transactional_ddl=True)
        env.run_migrations()
