"""A throwaway Prometheus process (the real binary) on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

INSTALL_HINT = "install Prometheus 2.x: apt-get install prometheus (Debian's package has prometheus and promtool)"


class PrometheusMissing(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PrometheusMissing(f"{name} not found on PATH: {INSTALL_HINT}")
    return path


def scrape_config(targets: Sequence[str], *, interval: str = "1s", job: str = "agents") -> str:
    listed = ", ".join(f"'{t}'" for t in targets)
    return (f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
            f"scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{listed}]\n")


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; always reaped."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_ready(url: str, *, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"prometheus exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"prometheus at {url} not ready after {timeout}s")


@contextmanager
def running_prometheus(config: str, *, data_dir: str | Path | None = None,
                       port: int | None = None, extra_args: Sequence[str] = ()) -> Iterator[str]:
    """Start Prometheus with `config` (YAML text); yields its URL; stops it and its temp data."""
    exe = binary("prometheus")
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="takeover-prom-") as tmp:
        config_file = Path(tmp) / "prometheus.yml"
        config_file.write_text(config)
        log = open(Path(tmp) / "prometheus.log", "wb")
        process = subprocess.Popen(
            [exe, f"--config.file={config_file}", f"--storage.tsdb.path={data_dir or Path(tmp) / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle", *extra_args],
            stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, timeout=30, process=process)
            yield url
        except RuntimeError:
            log.flush()
            raise RuntimeError((Path(tmp) / "prometheus.log").read_text()[-2000:]) from None
        finally:
            stop_process(process)
            log.close()
