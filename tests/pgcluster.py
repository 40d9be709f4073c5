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
import socket
import subprocess
import tempfile
import threading
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


class Partition:
    """A TCP proxy in front of a server that can stop forwarding without closing anything: what
    a network partition (or a peer that froze) looks like to a client — every call just waits.
    `cut()` holds every byte in both directions, on open and new connections; `heal()` lets
    them through again."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.flowing = threading.Event()
        self.flowing.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self.flowing.clear()

    def heal(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.heal()
        self._listener.close()
        for end in self._sockets:
            end.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for end in (src, dst):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()
