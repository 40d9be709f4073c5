"""Deployment files: docker-compose.yml, Dockerfile and deploy/, checked without a Docker engine.

The compose file is validated against the vendored Compose Specification schema
(deploy/compose-spec.json); everything compose would only find out at `up` time (missing build
contexts and mount sources, commands takeover does not have, unpinned images, clashing ports,
Prometheus files it cannot load) is checked here against the repository.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, HTTPServer
from itertools import takewhile
from pathlib import Path
from typing import Any

import pytest
import yaml

from takeover.server.settings import Settings
from takeover.tools.promproc import binary
from tests.conftest import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
BUILT = sorted(name for name, svc in SERVICES.items() if "build" in svc)
PROMETHEUS_YML = ROOT / "deploy" / "prometheus.yml"
SELF_RULES = ROOT / "deploy" / "takeover-self.rules.yml"
SETTINGS_ENV = {f"TAKEOVER_{name.upper()}" for name in Settings.model_fields}


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


DOCKERFILE = dockerfile_instructions(ROOT / "Dockerfile")
DOCKERFILE_ENV = dict(
    token.split("=", 1) for keyword, args in DOCKERFILE if keyword == "ENV" for token in shlex.split(args))


def command_of(svc: dict[str, Any]) -> list[str]:
    command = svc.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def environment_of(svc: dict[str, Any]) -> dict[str, Any]:
    env = svc.get("environment") or {}
    return dict(item.split("=", 1) if "=" in item else (item, None) for item in env) if isinstance(env, list) else env


def mounts_of(svc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of each volume entry, short syntax parsed like compose does."""
    mounts = []
    for volume in svc.get("volumes", []):
        if isinstance(volume, dict):
            mounts.append((volume["type"], volume.get("source", ""), volume["target"]))
            continue
        source, target = volume.split(":")[:2]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        mounts.append((kind, source, target))
    return mounts


def test_compose_file_matches_the_compose_specification() -> None:
    import jsonschema  # in the test extra; imported here so only this test needs it

    # Draft 7 named outright: the schema's "$schema" URI lacks the trailing "#" jsonschema looks up
    validator = jsonschema.Draft7Validator(json.loads((ROOT / "deploy" / "compose-spec.json").read_text()))
    validator.validate(COMPOSE)
    assert "version" not in COMPOSE, "the Compose Specification has no version: key (it is ignored, with a warning)"
    # the vendored schema must actually bite: a misspelt condition is refused
    broken = {"services": {"a": {"image": "x:1", "depends_on": {"b": {"condition": "healthy"}}}}}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_every_service_has_an_image_or_a_build() -> None:
    assert {"postgres", "prometheus", "demo-agent", "migrate", "takeover"} <= SERVICES.keys()
    assert [name for name, svc in SERVICES.items() if "image" not in svc and "build" not in svc] == []


def test_build_contexts_exist_and_have_a_dockerfile() -> None:
    assert BUILT, "no service is built from this repository"
    for name in BUILT:
        build = SERVICES[name]["build"]
        context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (context / dockerfile).is_file(), f"{name}: no {dockerfile} in build context {context}"


def test_bind_mount_sources_exist_and_named_volumes_are_declared() -> None:
    binds = [(name, source) for name, svc in SERVICES.items() for kind, source, _ in mounts_of(svc) if kind == "bind"]
    assert binds, "no bind mounts found: did the volume parsing break?"
    for name, source in binds:
        assert (ROOT / source).exists(), f"{name}: bind-mount source {source} does not exist in the repository"
    declared = set(COMPOSE.get("volumes") or {})
    for name, svc in SERVICES.items():
        for kind, source, _ in mounts_of(svc):
            if kind == "volume":
                assert source in declared, f"{name}: named volume {source} is not declared under volumes:"


@pytest.mark.parametrize("where", [*BUILT, "Dockerfile"])
def test_commands_are_takeover_commands(where: str) -> None:
    if where == "Dockerfile":
        command = json.loads(next(args for keyword, args in DOCKERFILE if keyword == "CMD"))
    else:
        command = command_of(SERVICES[where])
    assert command, f"{where}: no command (the image's default would run)"
    words = list(takewhile(lambda w: not w.startswith("-"), command))  # "db upgrade", "demo-agent"
    result = subprocess.run([sys.executable, "-m", "takeover", *words, "--help"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, f"{where}: `takeover {' '.join(words)}` is not a takeover command: {result.stderr}"
    for option in (w.split("=", 1)[0] for w in command if w.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout), \
            f"{where}: `takeover {' '.join(words)}` has no option {option}"


def test_images_are_pinned_to_a_published_tag() -> None:
    images = {name: svc["image"] for name, svc in SERVICES.items() if "build" not in svc}
    assert images, "no pulled images found"
    reference = re.compile(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    for name, image in images.items():
        assert reference.match(image), f"{name}: {image!r} is not name:tag with an explicit tag"
        assert not image.endswith(":latest"), f"{name}: {image!r} floats; pin a version"
    assert images["prometheus"] == "prom/prometheus:v2.42.0", "takeover's evaluation parity is pinned to 2.42.0"


def test_published_host_ports_are_unique() -> None:
    published = []
    for svc in SERVICES.values():
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                published.append(str(port.get("published", "")))
            elif ":" in str(port):
                published.append(str(port).rsplit(":", 2)[-2])
    assert "8080" in published, "takeover's API is not published"
    assert len(published) == len(set(published)), f"host ports published twice: {published}"


def test_dockerfile_copy_sources_exist_and_are_not_dockerignored() -> None:
    ignored = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    sources = [source for keyword, args in DOCKERFILE if keyword == "COPY"
               for source in [t for t in shlex.split(args) if not t.startswith("--")][:-1]]
    # the templates live in the package (takeover/defaults/templates; ./templates points there)
    assert {"pyproject.toml", "README.md", "takeover", "rules", "takeover/defaults/templates"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        hits = [p for p in ignored if fnmatch(source, p) or fnmatch(source, p.removeprefix("**/"))]
        assert not hits, f"Dockerfile copies {source}, but .dockerignore excludes it ({hits})"


def test_takeover_settings_in_deploy_files_exist() -> None:
    named = set(DOCKERFILE_ENV) | {k for svc in SERVICES.values() for k in environment_of(svc)}
    unknown = {k for k in named if k.startswith("TAKEOVER_")} - SETTINGS_ENV
    assert unknown == set(), f"not takeover settings (typo?): {sorted(unknown)}"
    env = environment_of(SERVICES["takeover"])
    targets = {target for _, _, target in mounts_of(SERVICES["takeover"])}
    assert env["TAKEOVER_RULES"] in targets and env["TAKEOVER_TEMPLATES"] in targets, \
        "takeover reads rules and templates from paths that are not the bind mounts"
    assert env["TAKEOVER_DATABASE_URL"] == environment_of(SERVICES["migrate"])["TAKEOVER_DATABASE_URL"], \
        "migrate upgrades a different database than takeover uses"


def test_depends_on_conditions_can_be_met() -> None:
    dockerfile_healthcheck = any(keyword == "HEALTHCHECK" for keyword, _ in DOCKERFILE)
    conditions = [(name, dep, spec["condition"]) for name, svc in SERVICES.items()
                  for dep, spec in (svc.get("depends_on") or {}).items()]
    assert ("takeover", "migrate", "service_completed_successfully") in conditions
    for name, dep, condition in conditions:
        assert dep in SERVICES, f"{name} depends on {dep}, which is not a service"
        target = SERVICES[dep]
        if condition == "service_healthy":
            check = target.get("healthcheck", {})
            assert not check.get("disable") and ("test" in check or ("build" in target and dockerfile_healthcheck)), \
                f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
        if condition == "service_completed_successfully":
            assert target.get("restart", "no") in ("no", "on-failure"), \
                f"{name} waits for {dep} to exit, but {dep} is restarted forever"


def _listen_port(svc: dict[str, Any]) -> int:
    command = command_of(svc)
    if "--port" in command:
        return int(command[command.index("--port") + 1])
    return int({**DOCKERFILE_ENV, **environment_of(svc)}["TAKEOVER_PORT"])


def test_prometheus_scrapes_compose_services_and_its_rule_files_are_mounted() -> None:
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    targets = [t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]]
    assert {"demo-agent", "takeover"} <= {t.split(":")[0] for t in targets}
    for target in targets:
        host, port = target.split(":")
        assert host in SERVICES, f"Prometheus scrapes {target}, but there is no service {host}"
        assert int(port) == _listen_port(SERVICES[host]), f"Prometheus scrapes {target}, but {host} listens elsewhere"
    mounts = {target: source for _, source, target in mounts_of(SERVICES["prometheus"])}
    config_dir = Path("/etc/prometheus")
    assert mounts.get(str(config_dir / "prometheus.yml")) == "./deploy/prometheus.yml"
    for rule_file in config["rule_files"]:
        assert str(config_dir / rule_file) in mounts, f"{rule_file} is loaded by Prometheus but not mounted"
    assert environment_of(SERVICES["takeover"])["TAKEOVER_PROMETHEUS_URL"] == "http://prometheus:9090"


class _Healthz(BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        self.paths.append(self.path)
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def healthz_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_dockerfile_healthcheck_exits_zero_only_when_healthz_answers_200(healthz_server: HTTPServer) -> None:
    args = next(args for keyword, args in DOCKERFILE if keyword == "HEALTHCHECK")
    argv = json.loads(args[args.index("CMD") + 3:])
    assert argv[:2] == ["python", "-c"], "slim has no curl: the healthcheck must be a python one-liner"
    env = {"TAKEOVER_PORT": str(healthz_server.server_address[1])}

    def run() -> int:
        return subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30).returncode

    _Healthz.status, _Healthz.paths = 200, []
    assert run() == 0
    assert _Healthz.paths == ["/healthz"]
    _Healthz.status = 503
    assert run() != 0


def test_self_rules_follow_takeover_conventions() -> None:
    # owner, runbook_url and first_check like every takeover rule, so on-call reads them the same way
    result = subprocess.run([sys.executable, "-m", "takeover", "check", str(SELF_RULES)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_prometheus_config_passes_promtool() -> None:
    result = _promtool("check", "config", str(PROMETHEUS_YML))  # also checks the rule files it loads
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_self_rules_pass_promtool_check_and_unit_tests() -> None:
    result = _promtool("check", "rules", str(SELF_RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    # each alert fires on its failure and stays quiet on a healthy takeover
    result = _promtool("test", "rules", str(ROOT / "deploy" / "takeover-self.rules.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
