"""Versioned schema migrations (alembic), run programmatically when the ledger opens."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from alerting.ledger.errors import SchemaTooNew

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: PostgreSQL advisory lock that serialises workers migrating the same database.
LOCK_KEY = 0x7E1E_1ED6


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(conn: sa.Connection) -> tuple[str, ...]:
    """The revision(s) the database is at (empty when never migrated)."""
    return MigrationContext.configure(conn).get_current_heads()


def upgrade(engine: sa.Engine) -> str:
    """Bring the database to this code's head in one transaction; return the head.

    Raises SchemaTooNew when the database is at a revision this code does not know.
    """
    config = _config()
    script = ScriptDirectory.from_config(config)
    known = {rev.revision for rev in script.walk_revisions()}
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        unknown = [rev for rev in current(conn) if rev not in known]
        if unknown:
            raise SchemaTooNew(
                f"the ledger database {engine.url.render_as_string(hide_password=True)} is at schema revision "
                f"{', '.join(unknown)}, newer than this telewatch knows (head {head()}); "
                "run the telewatch version that migrated it, or a newer one"
            )
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return head()
