"""Migrations produce exactly the models' schema, and serve refuses a database that is behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import takeover.store.models  # noqa: F401 - the tables
from takeover import store
from takeover.store import migrate
from tests.conftest import takeover_cli


def test_migrations_match_the_models_with_no_drift(database_url: str) -> None:
    engine = store.make_engine(database_url, migrate=True)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
        assert diff == [], f"models and migrations differ; write a migration: {diff}"
        assert migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()


@pytest.mark.empty_database
def test_serve_refuses_a_database_that_is_behind_then_db_upgrade_fixes_it(postgres_url: str, tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text("groups: []\n")
    env = {"TAKEOVER_DATABASE_URL": postgres_url, "TAKEOVER_RULES": str(tmp_path / "rules.yml")}
    refused = takeover_cli("serve", env=env)
    assert refused.returncode == 1 and "run `takeover db upgrade`" in refused.stderr
    upgraded = takeover_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert takeover_cli("db", "current", env=env).stdout.strip() == f"current: {migrate.head()}; needed: {migrate.head()}"


def test_the_embedded_sqlite_upgrades_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    store.make_engine(url).dispose()
    assert migrate.current(create_engine(url)) == migrate.head()
