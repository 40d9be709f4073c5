"""The database engine: SQLite tuned for one process, PostgreSQL for replicas; the schema
kept current (migrations), and the one race-safe insert."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

# PostgreSQL: no call waits without bound. The server ends a statement, a lock wait or a
# transaction left idle past these; the client gives up connecting, waiting for a pooled
# connection, or on a peer that stopped acknowledging (a partition) past the others.
STATEMENT_TIMEOUT_MS = 30_000
LOCK_TIMEOUT_MS = 10_000
IDLE_IN_TRANSACTION_MS = 60_000
CONNECT_TIMEOUT = 5
POOL_TIMEOUT = 10.0
TCP_USER_TIMEOUT_MS = 10_000


def postgresql_connect_args(url: str, *, name: str) -> dict[str, Any]:
    """libpq settings for every connection: the timeouts above (the URL's own `options` kept,
    and able to override them), keepalives, and `application_name` (who this connection is,
    in pg_stat_activity)."""
    timeouts = (f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS} "
                f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}")
    own = make_url(url).query.get("options")
    options = " ".join([timeouts, *([own] if isinstance(own, str) else list(own or ()))])
    return {"options": options, "connect_timeout": CONNECT_TIMEOUT, "application_name": name[:63],
            "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS}


def make_engine(url: str, *, migrate: bool = False, name: str = "takeover") -> Engine:
    """An engine on a database whose schema is current: the embedded SQLite (or any database
    when `migrate`) is upgraded in place; another one that is behind raises DatabaseBehind.

    SQLite: WAL, a busy timeout, and BEGIN IMMEDIATE so a transaction that reads then writes
    (a conditional decision, the audit chain) holds the write lock from its start.
    PostgreSQL: every wait bounded (`postgresql_connect_args`); `name` labels the connections."""
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
        engine = create_engine(url, pool_pre_ping=True, pool_timeout=POOL_TIMEOUT,
                               connect_args=postgresql_connect_args(url, name=name))
    from takeover.store.migrate import ensure_current

    ensure_current(engine, upgrade_if_behind=migrate or url.startswith("sqlite"))
    return engine


def insert_if_missing(session: Session, table: Any, conflict: str | tuple[str, ...], /, **values: Any) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: safe when replicas or threads race to create a row.
    `conflict` names the unique column (or the columns of a unique constraint)."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    columns = [conflict] if isinstance(conflict, str) else list(conflict)
    session.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=columns))
