"""The processes a benchmark run starts: servers pinned to a CPU, each stopped on the way out.

Every process goes through `Processes.start`, and `Processes.stop_all` (a context exit, also on
Ctrl-C or SIGTERM) ends exactly those, by pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from takeover import store
from takeover.control.principal import new_token
from takeover.tools.promproc import free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
SERVER_CPU, CLIENT_CPU = 0, 1  # the server gets one core, the load generator the other
ACTOR = "admin:bench"  # who the audit trail says created the bench tokens


def pinned(cpu: int) -> list[str]:
    """`taskset` prefix for a command, or nothing where there is one CPU or no taskset."""
    if (os.cpu_count() or 1) < 2 or not Path("/usr/bin/taskset").exists():
        return []
    return ["taskset", "-c", str(cpu)]


@dataclass
class Processes:
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, args: Sequence[str], *, cpu: int, env: dict[str, str] | None = None,
              log: Path | None = None) -> subprocess.Popen[bytes]:
        out = open(log, "wb") if log else subprocess.DEVNULL
        # own session: a Ctrl-C reaches only us, and we stop the children in order;
        # taskset execs the command, so the pid is the server's own
        process = subprocess.Popen([*pinned(cpu), *args], env={**os.environ, **(env or {})},
                                   stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                   start_new_session=True)
        if log:
            out.close()  # type: ignore[union-attr]
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        stop_process(process)
        if process in self.started:
            self.started.remove(process)

    def stop_all(self) -> None:
        while self.started:
            self.stop(self.started[-1])


@contextmanager
def processes() -> Iterator[Processes]:
    """A `Processes` whose children are stopped on exit, Ctrl-C and SIGTERM alike."""
    procs = Processes()
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield procs
    finally:
        procs.stop_all()
        signal.signal(signal.SIGTERM, previous)


def wait_healthy(url: str, process: subprocess.Popen[bytes], *, log: Path | None = None,
                 timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited {process.returncode}"
                               + (f"\n{log.read_text()}" if log else ""))
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Bare:
    url: str
    pid: int


@dataclass
class Takeover:
    """A running `takeover serve` with an operator token and one agent token per agent."""

    url: str
    pid: int
    operator: str
    agents: dict[str, str]  # agent name -> its token
    log: Path

    def fast_path_polls(self) -> int | None:
        """The server's count of polls answered by the control fast path (None if not exported)."""
        for line in httpx.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith("takeover_control_polls "):
                return int(float(line.split()[1]))
        return None


def seed(database_url: str, agents: Sequence[str]) -> tuple[str, dict[str, str]]:
    """Schema, one operator token, and one agent and agent token per name, written straight into
    the database (one transaction) rather than through 1,000 `takeover token create` processes.
    Returns (operator token, agent name -> its token)."""
    engine = store.make_engine(database_url, migrate=True)
    now = time.time()
    tokens = {name: new_token() for name in agents}
    operator = new_token()
    with Session(engine) as session:
        store.create_token(session=session, name="bench-op", role="operator", agents=[], actor=ACTOR,
                           token=operator, now=now)
        for name, token in tokens.items():
            store.create_token(session=session, name=name, role="agent", agents=[name],
                               token=token, now=now, actor=ACTOR)
            store.ensure_agent(session=session, name=name, now=now)
        session.commit()
    engine.dispose()
    return operator, tokens


def serve(procs: Processes, tmp: Path, *, database_url: str, operator: str, agents: dict[str, str],
          name: str = "serve", serve: Sequence[str] = ("-m", "takeover", "serve")) -> Takeover:
    """A `takeover serve` on `database_url` (seeded), empty rules, pinned to the server CPU."""
    (tmp / "rules.yml").write_text("groups: []\n")
    port = free_port()
    env = {"TAKEOVER_DATABASE_URL": database_url, "TAKEOVER_RULES": str(tmp / "rules.yml"),
           "TAKEOVER_TEMPLATES": str(ROOT / "templates"),
           "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: no rules
           "TAKEOVER_HOST": "127.0.0.1", "TAKEOVER_PORT": str(port)}
    log = tmp / f"{name}.log"
    process = procs.start([sys.executable, *serve], cpu=SERVER_CPU, env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(f"{url}/healthz", process, log=log)
    return Takeover(url, process.pid, operator, agents, log)


def start_takeover(procs: Processes, tmp: Path, *, agents: Sequence[str],
                   serve_args: Sequence[str] = ("-m", "takeover", "serve")) -> Takeover:
    """`takeover serve` on SQLite in `tmp`, empty rules; tokens and agents written beforehand."""
    db = f"sqlite:///{tmp / 'takeover.db'}"
    operator, tokens = seed(db, agents)
    return serve(procs, tmp, database_url=db, operator=operator, agents=tokens, serve=serve_args)


def start_bare(procs: Processes, kind: str) -> Bare:
    """One of `bench/bare.py`'s baselines: "304" or "longpoll"."""
    port = free_port()
    process = procs.start([sys.executable, str(BENCH / "bare.py"), kind, str(port)], cpu=SERVER_CPU)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url + "/", process)
    return Bare(url, process.pid)


def temp_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="takeover-bench-")


def print_rows(main: Callable[[], list[dict[str, Any]]]) -> None:
    """Run a standalone benchmark's `main()` and print its rows as a table (with the time taken)."""
    started = time.monotonic()
    try:
        result = main()
    except KeyboardInterrupt:  # every process was stopped on the way out
        sys.exit(130)
    head = f"{'benchmark':<42} {'takeover':>10} {'baseline':>10} {'ratio':>7}  unit: note"
    print(head)
    print("-" * len(head))
    for r in result:
        print(f"{r['benchmark']:<42} {r['takeover']:>10} {r['baseline']:>10} {r['ratio']:>7}  {r['unit']}: {r['note']}")
    print(f"({time.monotonic() - started:.0f} s)")


ADMIN_URL = os.environ.get("TAKEOVER_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def database() -> Iterator[str]:
    """A throwaway PostgreSQL database; yields its URL and drops it afterwards."""
    name = f"takeover_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        store.make_engine(url, migrate=True).dispose()  # what `takeover db upgrade` does
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()
