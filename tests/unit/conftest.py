"""The unit tests' shared fixtures: the dashboards on fakes (tests/support/fake_site.py)."""

from __future__ import annotations

import pytest

from tests.support.fake_site import Apps, FakeDashboard, Make, make_apps, on_fakes
from wa_monitor.core.records import Delivery


@pytest.fixture(scope="session")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Apps:
    """prod's and dev's dashboards, made once for the session, each test giving them fakes."""
    return make_apps(tmp_path_factory.mktemp("configs"))


@pytest.fixture
def make(apps: Apps) -> Make:
    def build(*outcomes: Delivery, env: str = "prod") -> FakeDashboard:
        return on_fakes(apps, *outcomes, env=env)

    return build
