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
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

HERE = Path(__file__).parent
HEAD = "0001"
"""The newest revision in ``versions/`` (a test checks it against Alembic's own answer): a
database already there is opened without loading Alembic at all, which keeps every command
and the server's registry source quick to start."""


def _config() -> Config:
    # Start-up time: Alembic loads only when a database is not at HEAD.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    return config


def script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision shipped with this skbundle."""
    revision = script_directory().get_current_head()
    assert revision is not None  # the package always ships at least one revision
    return revision


def current(connection: Connection) -> str | None:
    """The database's revision, or None when it has none yet (a new database).

    Run it in a transaction of its own: on PostgreSQL a missing table aborts the transaction.
    """
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def upgrade(connection: Connection) -> None:
    """Run every revision newer than the database's on ``connection`` (already in a
    transaction holding the write lock): a no-op for a database at head."""
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    config = _config()
    script = ScriptDirectory.from_config(config)

    def steps(rev: Any, context: Any) -> Any:
        return script._upgrade_revs("head", rev)

    with EnvironmentContext(config, script, fn=steps, destination_rev="head") as env:
        env.configure(connection=connection, transactional_ddl=True)
        env.run_migrations()
