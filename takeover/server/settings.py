"""Settings from `TAKEOVER_*` environment variables (pydantic-settings)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from takeover.config.mode import ModeName


class Settings(BaseSettings):
    """Every field is read from `TAKEOVER_<NAME>`; see `takeover --help`."""

    model_config = SettingsConfigDict(env_prefix="TAKEOVER_", extra="ignore", env_ignore_empty=True)

    database_url: str = Field("sqlite:///takeover.db", description="SQLAlchemy URL; default: SQLite file in the working directory")
    auto_migrate: bool = Field(False, description="upgrade the database schema at start (always on for SQLite)")
    prometheus_url: str = Field("http://127.0.0.1:9090", description="Prometheus to query")
    rules: Annotated[list[str], NoDecode] = Field(["rules/"], description="rule files or directories (comma-separated)")
    templates: str | None = Field(None, description="directory of Slack message templates; unset: ./templates if it "
                                                    "exists, else the defaults shipped in the package (`takeover init` copies them)")
    routing: str | None = Field(None, description="routing file (YAML): owners to Slack channels, grouping, escalation, Slack users")
    policies: str | None = Field(None, description="policy file (YAML): which actions need a human, with quorum, "
                                                   "escalation and grants; reloaded with the rules")
    slack_signing_secret: SecretStr | None = Field(None, description="Slack app signing secret; unset: /slack/interactions refuses everything")
    slack_token: SecretStr | None = Field(None, description="Slack bot token; unset: print messages to the console")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL")
    slack_channel: str = Field("#alerts", description="default Slack channel")
    public_url: str | None = Field(None, description="the console's address as people reach it (https://takeover.example.com); "
                                   "set: Slack messages link to its pages; unset: no links")
    alertmanager_url: Annotated[list[str], NoDecode] = Field([], description="Alertmanagers (comma-separated base URLs) "
                                                             "that get takeover's own alerts at /api/v2/alerts, as "
                                                             "from Prometheus; unset: none")
    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8080, description="port the API listens on")
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="largest request body the API reads; larger gets 413")
    api_docs: bool = Field(False, description="serve /docs and /redoc (their scripts load from a CDN); /openapi.json is always served")
    query_timeout: float = Field(10.0, description="seconds before a Prometheus query fails")
    failsafe_mode: ModeName | None = Field(None, description="mode for every agent while Prometheus is unreachable (off when unset)")
    failsafe_after: float = Field(120.0, description="seconds of failed queries before the fail-safe mode applies")
    approval_expiry: float = Field(900.0, description="seconds an approval request waits for a human by default")
    approval_max_expiry: float = Field(86400.0, description="the longest expiry a request may ask for")
    dispatch_interval: float = Field(1.0, description="seconds between grouping passes over the alerts")
    release_interval: float = Field(30.0, gt=0, description="seconds between release analyses (checks, gates, "
                                                            "rollback alerts)")
    meta_alert_after: float = Field(60.0, description="seconds of failed Prometheus queries before takeover pages about it")
    meta_alert_owner: str = Field("takeover-admins", description="owner paged by the built-in meta-alert")
    log_format: str = Field("auto", description="auto (text on a terminal, else JSON), json or text")
    deliver_interval: float = Field(1.0, description="seconds between notification delivery passes")
    slack_timeout: float = Field(10.0, gt=0, description="seconds before a Slack API call fails (tried again after a back-off)")
    slack_retry_max: float = Field(300.0, gt=0, description="the longest back-off between two attempts at one "
                                                            "Slack message (a Retry-After from Slack is honoured "
                                                            "even when longer)")
    silent_after: float = Field(300.0, gt=0, description="seconds without a control poll after which /metrics "
                                                         "counts an agent as silent (takeover_agents_silent)")
    replica_stale_after: float = Field(5.0, gt=0, description="PostgreSQL replicas: the longest a replica answers control polls from memory since the database last confirmed them; past it a poll waits for a confirmation (at most 2 s) or gets 503")

    @field_validator("rules", "alertmanager_url", mode="before")
    @classmethod
    def _split_rules(cls, value: object) -> object:
        return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value

    @classmethod
    def describe(cls) -> str:
        """One line per setting, for --help."""
        return "\n".join(
            f"TAKEOVER_{name.upper()}: {f.description} (default: {f.default})"
            for name, f in cls.model_fields.items()
        )
