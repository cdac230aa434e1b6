"""The unit tests' shared fixtures: the dashboards on fakes (tests/support/fake_site.py), made
only when a test of a web handler asks for them, so the rest import no web app or driver."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.fake_site import Apps, FakeDashboard, Make
    from wa_monitor.core.records import Delivery


@pytest.fixture(scope="session")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Apps:
    """prod's and dev's dashboards, made once for the session, each test giving them fakes."""
    from tests.support.fake_site import make_apps

    return make_apps(tmp_path_factory.mktemp("configs"))


@pytest.fixture
def make(apps: Apps) -> Make:
    from tests.support.fake_site import on_fakes

    def build(*outcomes: Delivery, env: str = "prod") -> FakeDashboard:
        return on_fakes(apps, *outcomes, env=env)

    return build
