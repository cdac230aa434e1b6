"""The login throttle's address blocks: one IPv4 address, one IPv6 /64."""

from __future__ import annotations

import pytest

from wa_monitor.services.accounts import address_block


@pytest.mark.parametrize(
    ("address", "block"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:7:1::1", "2001:db8:7:1::/64"),
        ("2001:db8:7:1:ffff:ffff:ffff:ffff", "2001:db8:7:1::/64"),
        ("2001:DB8:7:1::abc", "2001:db8:7:1::/64"),
        ("2001:db8:7:2::1", "2001:db8:7:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client of a dual-stack socket
        ("::1", "::/64"),
        ("testclient", "testclient"),
    ],
)
def test_an_address_is_throttled_by_its_block(address: str, block: str) -> None:
    assert address_block(address) == block
