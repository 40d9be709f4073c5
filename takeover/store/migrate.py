"""Schema migrations (Alembic): `takeover db upgrade`, and the check `takeover serve` makes."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseBehind(RuntimeError):
    """The database's schema is older than this takeover's: run `takeover db upgrade`."""


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply every migration up to the latest."""
    config = _config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")  # a migration takes what it takes
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def ensure_current(engine: Engine, *, upgrade_if_behind: bool) -> None:
    """Upgrade (embedded SQLite, or when asked) or refuse to run on an older schema."""
    if current(engine) == head():
        return
    if upgrade_if_behind:
        upgrade(engine)
        return
    raise DatabaseBehind(f"the database schema is at {current(engine) or 'nothing'}, this takeover needs "
                         f"{head()}: run `takeover db upgrade` (with the same TAKEOVER_DATABASE_URL) first")
