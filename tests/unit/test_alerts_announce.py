"""The alerts service's announcing (services/alerts.announce) on fakes of its ports: the
incidents kept (FakeIncidents, as sql/alerts.sql keeps them), the channels' posters and
messages.db. Each incident told once per channel and its recovery once, a channel that failed
due again, an unknown post never repeated, a check killed around its post not posted again, and
no post while a turn (a transaction) is open. tests/integration/test_alerts.py runs the same
against PostgreSQL, the simulated bridge API and an SMTP server."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.support.fakes import FakeEchoes, FakeIncidents, FakePoster
from wa_monitor.core.alerts import Incident, Known
from wa_monitor.core.records import Delivery, SendResult
from wa_monitor.services.alerts import Announcement, Channel, announce

TZ = ZoneInfo("Africa/Johannesburg")
T0 = datetime(2025, 11, 11, 8, 0, tzinfo=UTC)
STOPPED = {Incident.STOPPED: "no wa-monitor is running"}
OPS_GROUP, OPS_MAIL = "120363400000000001@g.us", "ops@example.com"


class OutsideTurns(FakePoster):
    """A channel's poster that fails the test if it is called while a turn is open."""

    def __init__(self, incidents: FakeIncidents, *outcomes: Delivery) -> None:
        super().__init__(*outcomes)
        self.incidents = incidents

    def send(self, recipient: str, text: str) -> SendResult:
        assert not self.incidents.in_turn, "posted inside a transaction"
        return super().send(recipient, text)


@dataclass
class Ops:
    """prod's alerts to an ops group and a mailbox, on a clock moved by hand."""

    now: datetime = T0
    incidents: FakeIncidents = field(init=False)
    echoes: FakeEchoes = field(default_factory=FakeEchoes)
    whatsapp: list[Delivery] = field(default_factory=list)
    email: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.incidents = FakeIncidents(now=lambda: self.now)
        self.posters = {
            "whatsapp": OutsideTurns(self.incidents),
            "email": OutsideTurns(self.incidents),
        }

    def check(
        self,
        found: dict[Incident, str],
        whatsapp: Delivery = Delivery.SENT,
        email: Delivery = Delivery.SENT,
    ) -> list[tuple[str, bool, Delivery]]:
        """One check finding `found`; each channel answers as said if it is posted to."""
        self.posters["whatsapp"].outcomes[:] = [whatsapp]
        self.posters["email"].outcomes[:] = [email]

        def channel(name: str) -> Channel:
            return lambda subject: self.posters[name]

        done: list[Announcement] = announce(
            found,
            self.incidents,
            posters={"whatsapp": channel("whatsapp"), "email": channel("email")},
            recipients={"whatsapp": OPS_GROUP, "email": OPS_MAIL},
            echoes={"whatsapp": self.echoes},
            env="prod",
            tz=TZ,
        )
        return [(a.channel, a.recovery, a.delivery) for a in done]

    def posted(self, channel: str) -> list[str]:
        return [text for _, text in self.posters[channel].posted]


def test_an_incident_is_told_once_on_each_channel_and_its_recovery_once_then_forgotten() -> None:
    ops = Ops()
    assert ops.check(STOPPED) == [
        ("whatsapp", False, Delivery.SENT),
        ("email", False, Delivery.SENT),
    ]
    assert ops.check(STOPPED) == []  # still stopped: nothing new to say
    ops.now += timedelta(minutes=20)
    assert ops.check({}) == [("whatsapp", True, Delivery.SENT), ("email", True, Delivery.SENT)]
    assert ops.posted("whatsapp")[0].startswith("🔴 wa-monitor prod: no wa-monitor is running")
    assert ops.posted("email")[1].startswith("✅ wa-monitor prod: recovered")
    assert ops.posters["whatsapp"].posted[0][0] == OPS_GROUP
    assert ops.incidents.rows == {}  # over for good
    assert ops.check({}) == []


def test_a_channel_that_failed_is_due_again_and_the_other_is_not_repeated() -> None:
    ops = Ops()
    assert ops.check(STOPPED, whatsapp=Delivery.DOWN) == [
        ("whatsapp", False, Delivery.DOWN),
        ("email", False, Delivery.SENT),
    ]
    assert ops.check(STOPPED) == [("whatsapp", False, Delivery.SENT)]
    assert len(ops.posted("email")) == 1


def test_an_unknown_post_is_never_repeated_and_messages_db_can_prove_it() -> None:
    ops = Ops()
    assert ops.check(STOPPED, whatsapp=Delivery.UNKNOWN)[0] == ("whatsapp", False, Delivery.UNKNOWN)
    assert ops.check(STOPPED) == []  # perhaps posted: not again
    ops.now += timedelta(minutes=20)
    ops.echoes.found.append(  # the bot's recovery message, in the ops group
        "✅ wa-monitor prod: recovered, a monitor is running again (incident since "
        "2025-11-11 10:00, 20 min)"
    )
    recovered = ops.check({}, whatsapp=Delivery.UNKNOWN)
    assert recovered[0] == ("whatsapp", True, Delivery.SENT)


def test_a_check_killed_around_its_post_never_posts_that_message_again() -> None:
    ops = Ops()
    ops.incidents.rows[Incident.STOPPED] = Known(
        Incident.STOPPED, "no wa-monitor is running", T0, opening=("email",)
    )
    ops.incidents.claimed_at[Incident.STOPPED] = T0
    ops.now = T0 + timedelta(minutes=10)
    assert ops.check(STOPPED) == [("whatsapp", False, Delivery.SENT)]
    assert ops.posted("email") == []
    assert ops.incidents.rows[Incident.STOPPED].opened_via == ("email", "whatsapp")


def test_each_message_is_claimed_in_one_turn_and_settled_in_a_turn_of_its_own() -> None:
    ops = Ops()
    ops.check(STOPPED)
    assert ops.incidents.turns == 1 + 2 + 1  # claim, a settle per channel, the closing look
