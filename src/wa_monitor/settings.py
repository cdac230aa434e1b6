"""Settings: one TOML file per environment, WA_MONITOR_* variables override, checked at start."""

from __future__ import annotations

import enum
import ipaddress
import math
import os
import re
import tomllib
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic import model_validator as _model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from wa_monitor.core import isolation
from wa_monitor.core.isolation import Production, user_part
from wa_monitor.core.records import ReplyKind
from wa_monitor.core.redaction import redacted_url
from wa_monitor.core.validation import DEFAULT_TEXTS, InvalidAction, check_template
from wa_monitor.errors import ConfigError

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
CONFIG_DIR_VAR = "WA_MONITOR_CONFIG_DIR"
DATABASE_URL_VAR = "WA_MONITOR_DATABASE_URL"
CREDENTIAL_NAME = "database_url"  # systemd LoadCredential=database_url:/etc/wa-monitor/prod.url
SHAREPOINT_SECRET_VAR = "WA_MONITOR_SHAREPOINT_CLIENT_SECRET"  # noqa: S105 - its name, not it
SHAREPOINT_CREDENTIAL = "sharepoint_client_secret"  # LoadCredential=sharepoint_client_secret:…
WEB_SECRET_VAR = "WA_MONITOR_WEB_SECRET"  # noqa: S105 - its name, not it
WEB_SECRET_CREDENTIAL = "web_secret"  # noqa: S105 - LoadCredential=web_secret:/etc/wa-monitor/…
MIN_WEB_SECRET_LENGTH = 32
DEFAULT_CONFIG_DIRS = (Path("config"), Path("/etc/wa-monitor"))
PROD_SCHEMA = "public"

# The keys that make an environment what it is: from its file only, never a variable (a dev file
# run with WA_MONITOR_SCHEMA=public would write dev's test drops into production's table).
IDENTITY_KEYS = ("environment", "schema", "log_prefix")
SQLITE_HEADER = b"SQLite format 3\x00"

# Keys and values that mean someone put a secret in a config file.
_SECRET_KEYS = frozenset({"database_url", "dsn", "url", "password", "db_password", "conninfo"})
_APP_SECRET_KEYS = frozenset({"client_secret", "secret", SHAREPOINT_CREDENTIAL, "clientsecret"})
_WEB_SECRET_KEYS = frozenset({WEB_SECRET_CREDENTIAL, "session_secret", "secret_key"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^(?:[0-9a-fA-F-]{36}|[a-z0-9][a-z0-9.-]*\.[a-z]{2,})$")
_URL_VALUE = re.compile(r"^\s*postgres(ql)?://", re.IGNORECASE)
# A session secret's strength, estimated as its length times the Shannon entropy of its
# characters: 64 random base64 characters (`openssl rand -base64 48`) make ~350 bits, 32 random
# hex ~118 (below 90 once in 100,000), a word repeated to 32 characters ~88, one letter 0.
MIN_SECRET_BITS = 90


def plain_url(value: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """A URL setting: one of `schemes`, a host, no spaces, and never credentials (user:password@
    belongs in no config file, and would be printed wherever the URL is). Errors never echo
    the URL unredacted."""
    shown = redacted_url(value)
    scheme, sep, rest = value.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in rest.split("?", 1)[0].split("#", 1)[0]:
        raise ValueError(
            f"must not carry credentials (user:password@); secrets never go in the config file "
            f"(got {shown!r})"
        )
    wanted = " or ".join(f"{s}://" for s in schemes)
    if not sep or scheme not in schemes or not authority or re.search(r"\s", value):
        raise ValueError(f"must be a {wanted} URL (got {shown!r})")
    return value


def entropy_bits(secret: str) -> float:
    """An estimate of a secret's strength: its length times the Shannon entropy (bits per
    character) of the characters it is made of."""
    if not secret:
        return 0.0
    counts = {c: secret.count(c) for c in set(secret)}
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return len(secret) * per_char


class Environment(enum.StrEnum):
    PROD = "prod"
    DEV = "dev"


class Project(BaseModel):
    """A WhatsApp project group and the project name its reviews carry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    group_jid: str
    enabled: bool = True
    # Check drops posted here against the project's plan list (`wa-monitor drops import`).
    # The TOML key is `validate`, a name pydantic's BaseModel already uses for a method.
    validates: bool = Field(default=False, alias="validate")

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        # It goes into every review row and log line: no NUL (PostgreSQL refuses it), no \r.
        if not value.isprintable():
            raise ValueError("must be printable text, without control characters")
        return value

    @field_validator("group_jid")
    @classmethod
    def _is_group(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9-]+@g\.us", value):
            raise ValueError(f"must be a group JID like 120363418298130331@g.us (got {value!r})")
        return value


BRIDGE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SINGLE_BRIDGE = "main"  # the name of the one bridge a plain `bridge_db` config reads


class BridgeSpec(BaseModel):
    """One bridge of the environment (a `[[bridges]]` table): a linked device on some host, its
    own messages.db, LID map and HTTP API. Every bridge receives the same messages; each host
    runs the environment's monitor for the bridge whose files it can read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # the cursor, the election and the heartbeat are kept under this name
    db: Path  # its messages.db
    lid_map_db: Path | None = None  # its whatsapp.db (whatsmeow_lid_map)
    api_url: str = "http://localhost:8080"  # its POST /api/send, as seen from its host

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not BRIDGE_NAME.fullmatch(value):
            raise ValueError(f"must be a short lowercase name like 'host-a' (got {value!r})")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return plain_url(value)


class Alerts(BaseModel):
    """The `[alerts]` table: where incidents go (an ops WhatsApp group through the bridge's API,
    and/or e-mail) and what counts as one. On for prod (it must name a channel), off for dev
    unless `enabled = true`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool | None = None
    whatsapp_recipient: str | None = None  # the ops group's JID (…@g.us) or a phone number
    bridge_api_url: str = "http://localhost:8080"
    email_to: tuple[str, ...] = ()
    email_from: str = "wa-monitor@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    max_behind: int = Field(default=500, ge=0)  # bridge messages waiting
    max_idle_minutes: int = Field(default=10, ge=1)  # messages wait, nothing read for this long
    quiet_minutes: int = Field(default=120, ge=1)  # no new bridge message in working hours
    working_hours: tuple[str, str] = ("07:00", "19:00")  # local time, [start, end)
    working_days: frozenset[int] = frozenset({1, 2, 3, 4, 5, 6})  # ISO weekdays, Monday = 1

    @field_validator("bridge_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return plain_url(value)

    @field_validator("working_hours")
    @classmethod
    def _clock_times(cls, value: tuple[str, str]) -> tuple[str, str]:
        for text in value:
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
                raise ValueError(f'must be two times like "07:00", "19:00" (got {text!r})')
        return value

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, value: frozenset[int]) -> frozenset[int]:
        if not value <= set(range(1, 8)):
            raise ValueError("must be ISO weekdays, 1 (Monday) to 7 (Sunday)")
        return value

    @property
    def channels(self) -> tuple[str, ...]:
        """The configured channels: 'whatsapp', 'email'."""
        return tuple(
            name
            for name, on in (("whatsapp", self.whatsapp_recipient), ("email", self.email_to))
            if on
        )

    @_model_validator(mode="after")
    def _somewhere_to_go(self) -> Alerts:
        if self.enabled and not self.channels:
            raise ValueError("enabled = true needs whatsapp_recipient or email_to")
        return self


class Web(BaseModel):
    """The dashboard's [web] table. TLS is the reverse proxy's job; the service listens on
    loopback unless told otherwise."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=1, le=65535)  # the bridge's API has 8080
    # Behind HTTPS: the session cookie is sent over HTTPS only, and responses ask for HSTS.
    secure_cookies: bool = False
    # A session ends after this long without a request (and 12 hours after its login).
    session_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    refresh_seconds: int = Field(default=30, ge=1, le=3600)  # the overview's figures
    send_feedback: bool = True  # reviewers may send feedback to the project's group
    # Dev only, and required there for Send: every dev feedback goes to this group (the test
    # group, one of dev's [[projects]]) whatever the review's project, so dev never posts in
    # a production group, even with that group enabled to read its traffic. Send is refused
    # when production's config names this group too, or cannot be read (core/isolation.py).
    feedback_group: str | None = None
    # X-Forwarded-For is believed only from these addresses or networks (the reverse proxy).
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # A request's headers and body must have arrived within this long of its connection (or of
    # the previous response on a kept-alive connection): a slow client cannot hold one.
    request_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            ipaddress.ip_network(address, strict=False)  # a ValueError names the bad one
        return value


class SharePoint(BaseModel):
    """Where the daily totals go: an app registration's non-secret ids and the workbook's.

    The client secret is never here: it comes from $WA_MONITOR_SHAREPOINT_CLIENT_SECRET or the
    systemd credential 'sharepoint_client_secret' (see Settings.require_sharepoint_secret)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str  # the directory (tenant) id, or its domain (contoso.onmicrosoft.com)
    client_id: str  # the app registration's application (client) id
    drive_id: str  # the document library's drive id (b!…)
    item_id: str  # the workbook's drive item id
    worksheet: str = Field(min_length=1, max_length=31)  # Excel's limit on a sheet name
    # Other clouds (and the test suite's stand-in) only: the public cloud's endpoints by default.
    authority_host: str = "https://login.microsoftonline.com"
    graph_root: str = "https://graph.microsoft.com/v1.0"
    ca_file: Path | None = None  # trust only this CA (a TLS-inspecting proxy, the tests)

    @field_validator("client_id")
    @classmethod
    def _guid(cls, value: str) -> str:
        if not _GUID.fullmatch(value):
            raise ValueError(f"must be the app's client id, a GUID (got {value!r})")
        return value

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if not _TENANT.fullmatch(value):
            raise ValueError(
                f"must be the tenant id (a GUID) or its domain like contoso.onmicrosoft.com "
                f"(got {value!r})"
            )
        return value

    @field_validator("drive_id", "item_id")
    @classmethod
    def _plain_id(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9!_.-]+", value):
            raise ValueError(
                f"must be an id as Graph gives it, like b!Xy… or 01ABC… (got {value!r})"
            )
        return value

    @field_validator("authority_host", "graph_root")
    @classmethod
    def _https(cls, value: str) -> str:
        plain_url(value, schemes=("https",))
        if not re.fullmatch(r"https://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"must be an https:// URL (got {redacted_url(value)!r})")
        return value.rstrip("/")


# The TOML key is `schema`, fixed by the ops documentation. It shadows pydantic's deprecated
# BaseModel.schema() classmethod, which nothing here calls; the warning about it is noise.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "schema"', category=UserWarning)

    class Settings(BaseSettings):
        """One environment's configuration."""

        model_config = SettingsConfigDict(
            env_prefix="WA_MONITOR_", extra="forbid", frozen=True, validate_default=True
        )

        environment: Environment
        schema: str  # type: ignore[assignment]  # see the note above the class
        log_prefix: str = ""
        log_file: Path | None = None
        # The bridge this process reads: `bridge_db`, `lid_map_db` and `bridge_api_url` are
        # its files and API. A config names either one bridge that way or several as
        # [[bridges]]; then these three are filled from the bridge chosen (`bridge`, else the
        # first whose messages.db exists on this host, else the first).
        bridge_db: Path
        lid_map_db: Path | None = None
        bridges: tuple[BridgeSpec, ...] = ()
        bridge: str = SINGLE_BRIDGE  # the chosen bridge's name (WA_MONITOR_BRIDGE, run --bridge)
        # A bridge whose newest message is this far behind the freshest bridge's, or whose
        # monitor has not read it for this long, is an incident (status, alerts).
        bridge_max_lag_minutes: float = Field(default=15.0, gt=0, le=7 * 24 * 60)
        timezone: str = "Africa/Johannesburg"
        poll_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
        batch_size: int = Field(default=20_000, ge=1, le=1_000_000)
        # How far ahead of the read time a message's time may be and still be taken as when it
        # was posted; a later one (a phone's clock set to 2099) is replaced by the read time.
        max_clock_skew_seconds: float = Field(default=86_400.0, gt=0, le=30 * 86_400)
        bot_senders: frozenset[str] = frozenset()
        # Whether the bridge's own account (is_from_me) also posts drops; if not, its messages
        # are never sightings (the monitor's replies, feedback sent from the dashboard).
        own_account_posts_drops: bool = False
        # The database role the environment's service logs in as (schema grant refuses to give
        # it to another environment); default wa_monitor_<environment>.
        service_role: str | None = Field(default=None, min_length=1, max_length=63)
        projects: tuple[Project, ...] = ()
        # Drop validation and replies to the groups (docs/OPERATIONS.md, Drop validation).
        invalid_action: InvalidAction = InvalidAction.REJECT
        replies: bool | None = None  # None: on for prod, off for dev
        acknowledgements: bool = False
        reply_window_seconds: float = Field(default=3600.0, gt=0)
        reply_interval_seconds: float = Field(default=1.0, ge=0, le=3600)
        # Replies a group, and an agent's messages, may get in an hour; the rest are held.
        # Reviewers' feedback and alerts are not capped.
        reply_cap_per_sender_hour: int = Field(default=10, ge=1, le=10_000)
        reply_cap_per_group_hour: int = Field(default=60, ge=1, le=10_000)
        reply_invalid_text: str = DEFAULT_TEXTS[ReplyKind.INVALID_DROP]
        reply_received_text: str = DEFAULT_TEXTS[ReplyKind.RECEIVED]
        reply_resubmission_text: str = DEFAULT_TEXTS[ReplyKind.RESUBMISSION]
        bridge_api_url: str = "http://localhost:8080"
        # The drops' photos (docs/CONFIGURATION.md, "Photos"): a drop's photos are its sender's
        # image and video messages from at most `photos_before_minutes` before the drop message
        # to `photos_after_minutes` after it (the nearest drop message wins).
        photos: bool = True
        photos_before_minutes: float = Field(default=180.0, ge=0, le=7 * 24 * 60)
        photos_after_minutes: float = Field(default=30.0, ge=0, le=7 * 24 * 60)
        # A photo no drop message has claimed this many days after the drain parked it is
        # forgotten (WhatsApp's servers stop serving media within days: it could not be fetched).
        photos_waiting_days: int = Field(default=14, ge=1, le=365)
        # Where the bridge writes downloaded media (its store/ folder, beside messages.db by
        # default): the fetcher reads only files whose real path lies under it.
        photos_media_dir: Path | None = None
        # The served copies (thumbnails, screen-size): one folder per environment, with a cap.
        photos_cache_dir: Path | None = None
        photos_cache_max_mb: int = Field(default=2048, ge=1, le=1_000_000)
        photos_max_file_mb: int = Field(default=64, ge=1, le=1024)
        photos_fetch_per_minute: int = Field(default=60, ge=1, le=6000)
        # Requests that may go at once after a quiet spell (a token bucket refilled at
        # photos_fetch_per_minute): one drop's 12 photos are fetched in a second or two, not
        # paced over 12; over any window the bridge is asked at most this many more times
        # than the steady pace allows.
        photos_fetch_burst: int = Field(default=12, ge=1, le=100)
        alerts: Alerts = Alerts()
        sharepoint: SharePoint | None = None
        web: Web = Web()
        # Only ever from WA_MONITOR_DATABASE_URL (or a systemd credential): see database_url().
        database_url: SecretStr | None = Field(default=None, repr=False)
        # Only ever from WA_MONITOR_SHAREPOINT_CLIENT_SECRET (or a systemd credential).
        sharepoint_client_secret: SecretStr | None = Field(default=None, repr=False)
        # Only ever from WA_MONITOR_WEB_SECRET (or a systemd credential): the dashboard's key.
        web_secret: SecretStr | None = Field(default=None, repr=False)
        # What production's config names (its groups, its alert recipient), for dev's posting
        # rule; set where the file is loaded (load_settings), never from a file or a variable.
        _production: Production | None = PrivateAttr(default=None)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # The TOML file arrives as init arguments; the environment overrides it.
            return (env_settings, init_settings)

        @_model_validator(mode="before")
        @classmethod
        def _one_or_many_bridges(cls, data: Any) -> Any:
            """`bridge_db` is a list of one bridge; [[bridges]] fills it with the chosen one."""
            if not isinstance(data, dict) or not data.get("bridges"):
                return data
            listed = data["bridges"]
            if not isinstance(listed, list | tuple) or not all(
                isinstance(b, dict | BridgeSpec) for b in listed
            ):
                return data  # the field's own validation names the problem
            if clash := [k for k in ("bridge_db", "lid_map_db", "bridge_api_url") if k in data]:
                raise ValueError(
                    f"{clash[0]} and [[bridges]] both name a bridge: with [[bridges]], give "
                    "each bridge its db, lid_map_db and api_url there"
                )
            specs = [b.model_dump() if isinstance(b, BridgeSpec) else b for b in listed]
            names = [str(b.get("name", "")) for b in specs]
            wanted = data.get("bridge")
            if wanted is not None and wanted not in names:
                raise ValueError(
                    f"bridge {wanted!r} is not one of the [[bridges]] ({', '.join(names)})"
                )
            if wanted is None:  # the bridge whose file is on this host, else the first
                here = [b for b in specs if b.get("db") and Path(str(b["db"])).exists()]
                wanted = str((here or specs)[0].get("name", ""))
            chosen = specs[names.index(wanted)]
            return {
                **data,
                "bridge": wanted,
                "bridge_db": chosen.get("db"),
                "lid_map_db": chosen.get("lid_map_db"),
                "bridge_api_url": chosen.get("api_url", "http://localhost:8080"),
            }

        @field_validator("schema")
        @classmethod
        def _plain_identifier(cls, value: str) -> str:
            if not IDENTIFIER.fullmatch(value) or len(value) > 63:
                raise ValueError(f"must be a plain lowercase identifier like 'dev' (got {value!r})")
            return value

        @field_validator("log_prefix")
        @classmethod
        def _one_token(cls, value: str) -> str:
            if value != value.strip() or not value.isprintable() or " " in value:
                raise ValueError(f"must be one token without spaces, like '[DEV]' (got {value!r})")
            return value

        @field_validator("bridge_api_url")
        @classmethod
        def _api_url(cls, value: str) -> str:
            return plain_url(value)

        @field_validator("log_file", mode="before")
        @classmethod
        def _empty_is_none(cls, value: Any) -> Any:
            # WA_MONITOR_LOG_FILE= (empty) means no log file, not the current folder.
            return None if isinstance(value, str) and not value.strip() else value

        @field_validator("timezone")
        @classmethod
        def _known_zone(cls, value: str) -> str:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
            return value

        @field_validator("reply_invalid_text", "reply_received_text", "reply_resubmission_text")
        @classmethod
        def _template(cls, value: str) -> str:
            check_template(value)
            return value

        @field_validator("bot_senders", mode="before")
        @classmethod
        def _bare_numbers(cls, value: Any) -> Any:
            if isinstance(value, list | tuple | set | frozenset):
                return frozenset(user_part(str(v)) for v in value)
            return value

        @_model_validator(mode="after")
        def _bridges_apart(self) -> Settings:
            names = [b.name for b in self.bridges]
            if dup := sorted({n for n in names if names.count(n) > 1}):
                raise ValueError(f"bridge name {dup[0]!r} listed more than once in [[bridges]]")
            if not self.bridges and self.bridge != SINGLE_BRIDGE:
                raise ValueError(
                    f"bridge {self.bridge!r} chosen, but this config names one bridge "
                    f"(bridge_db), whose name is {SINGLE_BRIDGE!r}; list several as [[bridges]]"
                )
            return self

        @_model_validator(mode="after")
        def _isolated(self) -> Settings:
            if self.environment is Environment.DEV and self.schema == PROD_SCHEMA:
                raise ValueError(
                    "environment 'dev' may not write to schema 'public' (production); "
                    'use schema = "dev"'
                )
            if self.environment is Environment.PROD and self.schema != PROD_SCHEMA:
                raise ValueError(
                    f"environment 'prod' writes to schema 'public', not {self.schema!r}"
                )
            if self.environment is Environment.DEV and not self.log_prefix:
                raise ValueError('dev log lines must carry a prefix: set log_prefix = "[DEV]"')
            if self.log_file is not None:
                read: list[Path | None] = [self.bridge_db, self.lid_map_db]
                read += [f for b in self.bridges for f in (b.db, b.lid_map_db)]
                _check_log_file(self.log_file, read)
            if (
                self.replying
                and (self.validating or self.acknowledgements)
                and not self.bot_senders
            ):
                raise ValueError(
                    "replies are on but bot_senders is empty: the monitor would read its own "
                    "replies as new submissions; list the bridge's own number in bot_senders "
                    "(or set replies = false)"
                )
            if self.sharepoint is not None and self.environment is not Environment.PROD:
                raise ValueError(
                    "[sharepoint] belongs in production's config only: dev data is never synced"
                )
            feedback_group = self.web.feedback_group
            if feedback_group is not None and self.environment is Environment.PROD:
                raise ValueError(
                    "[web] feedback_group is for dev (prod sends to each project's own group)"
                )
            if feedback_group is not None and feedback_group not in {
                p.group_jid for p in self.projects
            }:
                raise ValueError(
                    "[web] feedback_group must be one of this environment's [[projects]] "
                    f"groups (got {feedback_group!r})"
                )
            jids = [p.group_jid for p in self.projects]
            if dup := sorted({j for j in jids if jids.count(j) > 1}):
                raise ValueError(f"group_jid listed more than once in [[projects]]: {dup[0]}")
            names = [p.name for p in self.projects]
            if dup := sorted({n for n in names if names.count(n) > 1}):
                raise ValueError(
                    f"project name {dup[0]!r} listed more than once in [[projects]]: a review's "
                    "project must name one group"
                )
            return self

        @property
        def bridge_list(self) -> tuple[BridgeSpec, ...]:
            """Every bridge of the environment: [[bridges]], or the one `bridge_db` names."""
            if self.bridges:
                return self.bridges
            return (
                BridgeSpec(
                    name=SINGLE_BRIDGE,
                    db=self.bridge_db,
                    lid_map_db=self.lid_map_db,
                    api_url=self.bridge_api_url,
                ),
            )

        def on_bridge(self, name: str) -> Settings:
            """These settings reading bridge `name` (ConfigError if the config has none)."""
            spec = next((b for b in self.bridge_list if b.name == name), None)
            if spec is None:
                names = ", ".join(b.name for b in self.bridge_list)
                raise ConfigError(f"no bridge named {name!r} in the config (its bridges: {names})")
            return self.model_copy(
                update={
                    "bridge": spec.name,
                    "bridge_db": spec.db,
                    "lid_map_db": spec.lid_map_db,
                    "bridge_api_url": spec.api_url,
                }
            )

        @property
        def production(self) -> Production | None:
            """What production's config names, as load_settings read it (None: not read)."""
            return self._production

        def beside(self, production: Production) -> Settings:
            """These settings, knowing what production's config names."""
            copy = self.model_copy()
            copy._production = production
            return copy

        @property
        def recipients(self) -> frozenset[str]:
            """Every recipient this config names: its projects' groups (enabled or not) and
            its alerts' WhatsApp recipient."""
            found = {p.group_jid for p in self.projects}
            if self.alerts.whatsapp_recipient:
                found.add(self.alerts.whatsapp_recipient)
            return frozenset(found)

        def may_post(self, recipient: str) -> bool:
            """Whether this environment may post to `recipient` (core.isolation's rule)."""
            return isolation.may_post(
                recipient,
                is_production=self.environment is Environment.PROD,
                production=self._production,
            )

        @property
        def reply_groups(self) -> frozenset[str]:
            """The enabled groups this environment may post replies in (none when replies
            are off; for dev, none that production's config names, and none while it is
            unknown)."""
            return isolation.reply_groups(
                self.enabled_projects,
                replying=self.replying,
                is_production=self.environment is Environment.PROD,
                production=self._production,
            )

        @property
        def alerts_on(self) -> bool:
            """Alerts are sent: as configured, else for prod (which then needs a channel)."""
            if self.alerts.enabled is not None:
                return self.alerts.enabled
            return self.environment is Environment.PROD

        @property
        def role(self) -> str:
            return self.service_role or f"wa_monitor_{self.environment.value}"

        @property
        def tz(self) -> ZoneInfo:
            return ZoneInfo(self.timezone)

        @property
        def media_dir(self) -> Path:
            """The bridge's media folder: photos_media_dir, else the folder of messages.db."""
            return self.photos_media_dir or self.bridge_db.parent

        @property
        def cache_dir(self) -> Path:
            """The photo cache: photos_cache_dir, else systemd's StateDirectory (the unit's
            $STATE_DIRECTORY), else ~/.local/state/wa-monitor, per environment."""
            if self.photos_cache_dir is not None:
                return self.photos_cache_dir
            state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
            base = Path(state) if state else Path.home() / ".local" / "state" / "wa-monitor"
            return base / f"photos-{self.environment.value}"

        @property
        def replying(self) -> bool:
            """Whether this environment posts replies: `replies`, else on for prod only."""
            if self.replies is None:
                return self.environment is Environment.PROD
            return self.replies

        @property
        def validating(self) -> frozenset[str]:
            """The names of the enabled projects that validate drops against their plan."""
            return frozenset(p.name for p in self.projects if p.enabled and p.validates)

        @property
        def reply_texts(self) -> dict[ReplyKind, str]:
            return {
                ReplyKind.INVALID_DROP: self.reply_invalid_text,
                ReplyKind.RECEIVED: self.reply_received_text,
                ReplyKind.RESUBMISSION: self.reply_resubmission_text,
            }

        @property
        def enabled_projects(self) -> dict[str, str]:
            """group JID → project name, for the groups this environment reads."""
            return {p.group_jid: p.name for p in self.projects if p.enabled}

        def group_of(self, project: str | None) -> str | None:
            """The group JID configured for `project` in this environment, or None."""
            return next((p.group_jid for p in self.projects if p.name == project), None)

        def project_of(self, group_jid: str) -> str | None:
            return next((p.name for p in self.projects if p.group_jid == group_jid), None)

        def require_database_url(self) -> str:
            """The database URL, from the environment or a systemd credential; never logged."""
            if url := _secret(self.database_url, CREDENTIAL_NAME):
                return url
            raise ConfigError(
                f"no database URL: set {DATABASE_URL_VAR} (or the systemd credential "
                f"'{CREDENTIAL_NAME}'); it is never read from the TOML file"
            )

        def require_sharepoint_secret(self) -> str:
            """The app's client secret, from the environment or a systemd credential."""
            if secret := _secret(self.sharepoint_client_secret, SHAREPOINT_CREDENTIAL):
                return secret
            raise ConfigError(
                f"no SharePoint client secret: set {SHAREPOINT_SECRET_VAR} (or the systemd "
                f"credential '{SHAREPOINT_CREDENTIAL}'); it is never read from the TOML file"
            )

        def require_web_secret(self) -> str:
            """The key that signs the dashboard's session cookies, from the environment or a
            systemd credential; never from the TOML file, never logged."""
            secret = _secret(self.web_secret, WEB_SECRET_CREDENTIAL)
            if not secret:
                raise ConfigError(
                    f"no dashboard session secret: set {WEB_SECRET_VAR} (or the systemd "
                    f"credential '{WEB_SECRET_CREDENTIAL}'); it is never read from the TOML file"
                )
            if len(secret) < MIN_WEB_SECRET_LENGTH:
                raise ConfigError(
                    f"the dashboard session secret is too short: use at least "
                    f"{MIN_WEB_SECRET_LENGTH} random characters (e.g. `openssl rand -base64 48`)"
                )
            if entropy_bits(secret) < MIN_SECRET_BITS:
                raise ConfigError(
                    f"the dashboard session secret is weak: it needs an estimated "
                    f"{MIN_SECRET_BITS} bits (its length times the entropy of its characters; "
                    f"one letter repeated has none); use random characters (e.g. `openssl rand "
                    f"-base64 48`)"
                )
            return secret


class _AsWritten(Settings):
    """Another environment's settings exactly as its file says: this process's WA_MONITOR_*
    variables belong to this environment, not to that one."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _secret(value: SecretStr | None, credential: str) -> str | None:
    """A secret from its variable (already in `value`), else from the systemd credential."""
    if value is not None and value.get_secret_value().strip():
        return value.get_secret_value().strip()
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        cred = Path(cred_dir) / credential
        try:
            text = cred.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None  # this unit loads other credentials, not this one
        except OSError as exc:
            raise ConfigError(
                f"cannot read the systemd credential {cred}: {exc.strerror}"
            ) from None
        return text or None
    return None


def _check_log_file(log: Path, read: list[Path | None]) -> None:
    """The log file is never a file the monitor reads (by path or by inode: a hard link or a
    symbolic link), nor one SQLite keeps beside a database (its rollback journal: writing it
    would corrupt the bridge's next recovery), and never something that is not a log (a
    folder, a SQLite database)."""
    for database in filter(None, read):
        for other in [database] + [database.with_name(database.name + s) for s in _SIDE_FILES]:
            if log.resolve() == other.resolve() or _same_inode(log, other):
                raise ValueError(
                    f"log_file {log} is {other}, which wa-monitor or the bridge reads: "
                    "never write it"
                )
    if log.is_dir():
        raise ValueError(f"log_file {log} is a folder; name a file in it")
    try:
        with log.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError:
        return  # missing (created at start) or unreadable (reported when it is opened)
    if head == SQLITE_HEADER:
        raise ValueError(f"log_file {log} is a SQLite database, not a log: never write it")


_SIDE_FILES = ("-journal", "-wal", "-shm")


def _same_inode(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def config_dirs(search: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """Where environment files live: $WA_MONITOR_CONFIG_DIR, else ./config then /etc/wa-monitor."""
    environ = os.environ if search is None else search
    return (Path(environ[CONFIG_DIR_VAR]),) if environ.get(CONFIG_DIR_VAR) else DEFAULT_CONFIG_DIRS


def find_config(env: str, search: Mapping[str, str] | None = None) -> Path:
    """The TOML file of `env`: in $WA_MONITOR_CONFIG_DIR, else ./config, then /etc/wa-monitor."""
    if not ENV_NAME.fullmatch(env):
        raise ConfigError(f"invalid environment name {env!r}: use a name like 'prod' or 'dev'")
    candidates = [d / f"{env}.toml" for d in config_dirs(search)]
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise ConfigError(f"no config for environment {env!r}: looked for {looked}")


def load_environment(env: str, search: Mapping[str, str] | None = None) -> Settings:
    """The settings of `env` as `--env` finds them; for dev, production's config is the one
    `--env prod` would find (the same search path)."""
    path = find_config(env, search)
    try:
        production: Path | Production = find_config(Environment.PROD.value, search)
    except ConfigError as exc:
        production = Production.unknown(str(exc))
    return load_settings(path, expect=env, production=production)


def load_settings(
    path: Path, *, expect: str | None = None, production: Path | Production | None = None
) -> Settings:
    """Read and check one environment's TOML file; raise ConfigError with a one-line reason.

    A dev config learns what production's config names (where dev may never post) from
    `production`: by default the prod.toml beside `path`."""
    raw = _read_toml(path)
    if secret := next(_secret_keys(raw, _WEB_SECRET_KEYS, urls=False), None):
        raise ConfigError(
            f"{path}: '{secret}' is the dashboard's session secret; secrets never go in the "
            f"config file: set {WEB_SECRET_VAR} or the systemd credential '{WEB_SECRET_CREDENTIAL}'"
        )
    if secret := next(_secret_keys(raw, _APP_SECRET_KEYS, urls=False), None):
        raise ConfigError(
            f"{path}: '{secret}' is the SharePoint app's secret; secrets never go in the config "
            f"file: set {SHAREPOINT_SECRET_VAR} or the systemd credential '{SHAREPOINT_CREDENTIAL}'"
        )
    if secret := next(_secret_keys(raw, _SECRET_KEYS), None):
        raise ConfigError(
            f"{path}: '{secret}' looks like a database URL or password; secrets never go in "
            f"the config file: set {DATABASE_URL_VAR} or the systemd credential '{CREDENTIAL_NAME}'"
        )
    overridden = [
        var
        for key in IDENTITY_KEYS
        if (value := _variable(var := f"WA_MONITOR_{key.upper()}")) is not None
        and value != str(raw.get(key, ""))
    ]
    if overridden:
        raise ConfigError(
            f"{', '.join(overridden)} (environment variable, overrides {path}): environment, "
            "schema and log_prefix come from the environment's file only; unset "
            f"{' and '.join(overridden)}, or run with the other environment's file"
        )
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(_blame(path, exc)) from None
    if settings.log_file is not None and _same_inode(settings.log_file, path):
        raise ConfigError(f"{path}: log_file names this config file itself; never write it")
    if expect in {e.value for e in Environment} and settings.environment.value != expect:
        raise ConfigError(
            f"{path}: says environment = {settings.environment.value!r}, "
            f"but --env {expect} was asked"
        )
    if settings.environment is Environment.PROD:
        return settings
    if not isinstance(production, Production):
        production = read_production(production or path.with_name("prod.toml"))
    return settings.beside(production)


def read_production(path: Path) -> Production:
    """What production's config at `path` names as recipients; unknown (so dev posts nowhere)
    when it cannot be read or is not production's. Read as the file says, without this
    process's WA_MONITOR_* variables (they belong to the other environment)."""
    try:
        raw = _read_toml(path)
        prod = _AsWritten(**raw)
    except ConfigError as exc:
        return Production.unknown(str(exc))
    except ValidationError as exc:
        return Production.unknown(f"{path}: {explain(exc)}")
    if prod.environment is not Environment.PROD:
        return Production.unknown(
            f"{path}: says environment = {prod.environment.value!r}, not 'prod'"
        )
    return Production(names=prod.recipients, source=str(path))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _variable(name: str) -> str | None:
    """A WA_MONITOR_ variable's value, whatever the case of its name (as pydantic reads it)."""
    found = [v for k, v in os.environ.items() if k.upper() == name]
    return found[0] if found else None


# The keys the environment/schema/prefix rule (Settings._isolated) is about.
_ISOLATION_KEYS = ("environment", "schema", "log_prefix")


def _blame(path: Path, exc: ValidationError) -> str:
    """The error, naming the file only for what the file said: a key set by a WA_MONITOR_*
    variable is blamed on that variable (which overrides the file)."""
    variables = {
        key: f"WA_MONITOR_{key.upper()}"
        for key in Settings.model_fields
        if f"WA_MONITOR_{key.upper()}" in os.environ
    }
    errors = exc.errors(include_url=False, include_input=False)
    keys = {str(e["loc"][0]) for e in errors if e["loc"]}
    for rule in (e["msg"] for e in errors if not e["loc"]):  # a rule across keys names them
        keys.update(k for k in _ISOLATION_KEYS if k in rule)
    blamed = sorted(variables[k] for k in keys if k in variables)
    if not blamed:
        return f"{path}: {explain(exc)}"
    return (
        f"{', '.join(blamed)} (environment variable, overrides {path}): {explain(exc)}; "
        f"unset {' and '.join(blamed)} or correct it"
    )


def explain(exc: ValidationError) -> str:
    """A pydantic error as one line, without echoing values that might be secret."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def _secret_keys(
    node: Any, keys: frozenset[str], where: str = "", *, urls: bool = True
) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where else str(key)
            if str(key).lower() in keys:
                yield here
            else:
                yield from _secret_keys(value, keys, here, urls=urls)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _secret_keys(item, keys, f"{where}[{i}]", urls=urls)
    elif urls and isinstance(node, str) and _URL_VALUE.match(node):
        yield where
