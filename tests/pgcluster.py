"""A throwaway PostgreSQL cluster for tests that restart or kill the database server.

`initdb` runs as an unprivileged user (PostgreSQL refuses root) in a fresh directory, and the
server listens on a free loopback port with trust authentication. The machine's shared server
is never touched.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from takeover.tools.promproc import free_port

USER = "postgres"  # the unprivileged account Debian's packages create


def pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install PostgreSQL's server package")
    return found


@dataclass
class Cluster:
    directory: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        as_user = [] if os.geteuid() != 0 else ["runuser", "-u", USER, "--"]
        subprocess.run([*as_user, pg_bin("pg_ctl"), "-D", f"{self.directory}/data", "-w", "-t", "30",
                        *args], check=True, capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1",
                  "-l", f"{self.directory}/log", "start")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is terminated, the server comes back."""
        self._ctl("-m", "fast", "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1",
                  "-l", f"{self.directory}/log", "restart")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    directory = tempfile.mkdtemp(prefix="takeover-pg-")
    if os.geteuid() == 0:
        entry = pwd.getpwnam(USER)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    as_user = [] if os.geteuid() != 0 else ["runuser", "-u", USER, "--"]
    subprocess.run([*as_user, pg_bin("initdb"), "-D", f"{directory}/data", "-U", USER, "--auth=trust",
                    "--no-sync"], check=True, capture_output=True, text=True, timeout=120)
    cluster = Cluster(directory, free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
