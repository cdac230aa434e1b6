"""What the ops tests share: both environments configured on one bridge, row versions, roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.support.env import LAWLEY, VELO, write_config
from tests.support.runs import say
from wa_monitor.cli import main
from wa_monitor.devtools.simulator import BridgeWriter

PROD_GROUPS = {LAWLEY: "Lawley"}
DEV_GROUPS = {VELO: "Velo Test", LAWLEY: "Lawley"}


@dataclass(frozen=True)
class Envs:
    folder: Path  # the config folder, holding prod.toml and dev.toml
    url: str  # the owner's URL (the test server's superuser)
    bridge: BridgeWriter

    def say(self, mid: str, content: str, at: datetime, *, chat: str = LAWLEY) -> None:
        say(self.bridge, mid, content, at, chat=chat)

    def wa(self, *args: str, url: str | None = None) -> int:
        """Run `wa-monitor ARGS` with the owner's URL (or `url`; "" for none at all)."""
        with pytest.MonkeyPatch.context() as mp:
            if url == "":
                mp.delenv("WA_MONITOR_DATABASE_URL", raising=False)
            else:
                mp.setenv("WA_MONITOR_DATABASE_URL", url or self.url)
            mp.setenv("WA_MONITOR_CONFIG_DIR", str(self.folder))
            return main(list(args))

    def configure(self, env: str, **options: Any) -> Path:
        """Write `env`'s config again through write_config(), on this bridge: its usual groups
        unless `options` say otherwise (`extra`, `retired`, `lid_map_db`…)."""
        options.setdefault("groups", PROD_GROUPS if env == "prod" else DEV_GROUPS)
        return write_config(self.folder, env, bridge_db=self.bridge.path, **options)

    def run(self, env: str, *, url: str | None = None) -> int:
        return self.wa("run", "--env", env, "--once", "--give-up-after", "2", url=url)


def make_envs(folder: Path, bridge: BridgeWriter, url: str) -> Envs:
    """prod's and dev's configs in `folder`, on `bridge` and the database at `url` (migrated or
    not: the database decides, see tests/support/fixtures.py)."""
    envs = Envs(folder=folder, url=url, bridge=bridge)
    envs.configure("prod")
    envs.configure("dev")
    return envs


def row_versions(db: psycopg.Connection[Any], schema: str) -> list[Any]:
    """Every row of the schema's wa-monitor tables with its row version: any write changes it."""
    out: list[Any] = []
    for table in (
        "qa_photo_reviews",
        "wa_monitor_ledger",
        "wa_monitor_cursor",
        "wa_monitor_migrations",
    ):
        q = sql.SQL("SELECT xmin::text, ctid::text, t.* FROM {} t ORDER BY ctid").format(
            sql.Identifier(schema, table)
        )
        out.append((table, db.execute(q).fetchall()))
    return out


def drops(db: psycopg.Connection[Any], schema: str) -> list[str]:
    q = sql.SQL("SELECT drop_number FROM {} ORDER BY 1").format(
        sql.Identifier(schema, "qa_photo_reviews")
    )
    return [r[0] for r in db.execute(q)]


class Roles:
    """Login roles made for one test (roles are cluster-wide: unique names, dropped after)."""

    def __init__(self, server: str, database_url: str) -> None:
        self._server, self._db = server, database_url
        self.names: list[str] = []

    def make(self, kind: str) -> tuple[str, str]:
        """A new login role; returns its name and its URL to the test's database."""
        name = f"wa_{kind}_{uuid.uuid4().hex[:10]}"
        password = uuid.uuid4().hex
        with psycopg.connect(self._server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
        self.names.append(name)
        return name, make_conninfo(self._db, user=name, password=password)

    def drop_all(self) -> None:
        for name in self.names:
            with psycopg.connect(self._db, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            with psycopg.connect(self._server, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def doctor(
    envs: Envs, capsys: pytest.CaptureFixture[str], env: str = "dev", **kw: str
) -> tuple[int, dict[str, str]]:
    """Run doctor; return its exit code and {check name: 'PASS …'/'FAIL … fix: …'}."""
    capsys.readouterr()
    code = envs.wa("doctor", "--env", env, **kw)
    lines: dict[str, str] = {}
    name = ""
    for line in capsys.readouterr().out.splitlines():
        if line.startswith(("PASS  ", "FAIL  ")):
            name = line[6:].split(":", 1)[0]
            lines[name] = line
        elif line.strip().startswith("fix:"):
            lines[name] += " " + line.strip()
    return code, lines
