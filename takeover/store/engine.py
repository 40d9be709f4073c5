"""The database engine: SQLite tuned for one process, PostgreSQL for replicas; the schema
kept current (migrations), and the one race-safe insert."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine


def make_engine(url: str, *, migrate: bool = False) -> Engine:
    """An engine on a database whose schema is current: the embedded SQLite (or any database
    when `migrate`) is upgraded in place; another one that is behind raises DatabaseBehind.

    SQLite: WAL, a busy timeout, and BEGIN IMMEDIATE so a transaction that reads then writes
    (a conditional decision, the audit chain) holds the write lock from its start."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy's begin event issues BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        engine = create_engine(url, pool_pre_ping=True)
    from takeover.store.migrate import ensure_current

    ensure_current(engine, upgrade_if_behind=migrate or url.startswith("sqlite"))
    return engine


def insert_if_missing(session: Session, table: Any, conflict: str, /, **values: Any) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: safe when replicas or threads race to create a row."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=[conflict]))
