"""The monitor's note and the reviewer's comment, kept apart (migration 0018): the monitor writes
its note in its own column, a reviewer's save writes only the comment, the page shows both, the
dashboard's role cannot touch the note, and an upgrade moves the notes written before out of the
reviewer's column."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from tests.support.env import LAWLEY, sast
from tests.support.ops import Envs, Roles
from tests.support.web import Row, add_user, csrf_of, dashboard, seed
from wa_monitor.core.steps import Step
from wa_monitor.settings import load_settings

pytestmark = pytest.mark.migrated("prod")

NOTE = "Created from WhatsApp message in Lawley group"


def shown(page: str, testid: str) -> str:
    """The text of the review page's field `testid` (inside its <bdi>)."""
    match = re.search(rf'data-testid="{testid}"><bdi>([^<]*)</bdi>', page)
    assert match, f"the page has no {testid}"
    return match[1]


def test_a_reviewers_save_keeps_the_monitors_note_and_the_page_shows_both(
    envs: Envs, db: psycopg.Connection[Any], database_url: str
) -> None:
    envs.say("A1", "DR1111111 installed", sast(11, 9, 30), chat=LAWLEY)
    assert envs.run("prod") == 0  # the monitor creates the review, with its note
    add_user(database_url, "public", "thandi")
    settings = load_settings(envs.folder / "prod.toml")
    with dashboard(settings, database_url) as dash:
        assert dash.login("thandi").status_code == 303
        review = dash.json("/wa-monitor/reviews")["reviews"][0]["id"]
        url = f"/wa-monitor/reviews/{review}"
        page = dash.client.get(url).text
        assert shown(page, "monitor-note") == NOTE
        assert shown(page, "reviewer-comment") == "—"
        assert re.search(r'<textarea name="comment"[^>]*></textarea>', page)  # box starts empty

        form = {"csrf": csrf_of(page), "version": "1", "comment": "meter photo is blurred"}
        form |= {f"mark_{s.column}": "ok" for s in Step}
        saved = dash.client.post(f"{url}/verdict", data=form, follow_redirects=False)
        assert saved.status_code == 303, saved.text

        page = dash.client.get(url).text
        assert shown(page, "monitor-note") == NOTE
        assert shown(page, "reviewer-comment") == "meter photo is blurred"
        twin = dash.json(url)
        assert (twin["monitor_note"], twin["comment"]) == (NOTE, "meter photo is blurred")
        exported = dash.client.get("/wa-monitor/reviews", params={"format": "csv"}).text
    [row] = csv.DictReader(io.StringIO(exported))
    assert (row["monitor_note"], row["comment"]) == (NOTE, "meter photo is blurred")
    stored = db.execute(
        "SELECT monitor_note, comment FROM public.qa_photo_reviews WHERE id = %s", (review,)
    ).fetchone()
    assert stored == (NOTE, "meter photo is blurred")
    # The trail names the comment's change from nothing, not from the monitor's note.
    [change] = db.execute(
        "SELECT changes->'comment' FROM public.wa_monitor_review_changes WHERE review_id = %s",
        (review,),
    ).fetchall()
    assert change[0] == {"from": "", "to": "meter photo is blurred"}


def test_the_web_role_may_write_the_comment_but_never_the_monitors_note(
    envs: Envs, roles: Roles, db: psycopg.Connection[Any]
) -> None:
    [review] = seed(db, "public", [Row("DR2222222", sast(11, 9))])
    role, url = roles.make("web")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    with psycopg.connect(url, autocommit=True) as web:
        web.execute("UPDATE public.qa_photo_reviews SET comment = 'ok' WHERE id = %s", (review,))
        with pytest.raises(pg_errors.InsufficientPrivilege):
            web.execute(
                "UPDATE public.qa_photo_reviews SET monitor_note = 'gone' WHERE id = %s", (review,)
            )


def test_an_upgrade_moves_the_notes_written_before_out_of_the_reviewers_comment(
    envs: Envs, db: psycopg.Connection[Any]
) -> None:
    ids = seed(
        db,
        "public",
        [
            Row("DR3333331", sast(11, 9)),  # the monitor's note, as version 17 wrote it
            Row("DR3333332", sast(11, 9)),  # a reviewer's comment (the note it replaced is gone)
            Row("DR3333333", sast(11, 9), project="Mohadin"),  # another project's note
        ],
    )
    comments = [NOTE, "cable not clipped", "Created from WhatsApp message in Mohadin group"]
    for review, comment in zip(ids, comments, strict=True):
        db.execute(
            "UPDATE public.qa_photo_reviews SET comment = %s, monitor_note = NULL WHERE id = %s",
            (comment, review),
        )
    db.execute("DELETE FROM public.wa_monitor_migrations WHERE version >= 18")

    assert envs.wa("schema", "migrate", "--env", "prod") == 0

    rows = db.execute(
        "SELECT monitor_note, comment FROM public.qa_photo_reviews ORDER BY drop_number"
    ).fetchall()
    assert rows == [
        (NOTE, None),
        (None, "cable not clipped"),
        ("Created from WhatsApp message in Mohadin group", None),
    ]
