"""The SSRF guard: URL checks, and the connect-time check that defeats DNS rebinding."""

from __future__ import annotations

import pytest

from shared.webhooks import guarded_transport, ssrf_guard
from shared.webhooks.addresses import BlockedAddress
from tests.fakes.webhooks import WebhookReceiver


def resolver_for(table: dict[str, list[str]]):
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError("no such host")
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    ("host", "reason"),
    [("127.0.0.1", "loopback"), ("2130706433", "loopback"), ("0177.0.0.1", "loopback"), ("0x7f.1", "loopback"),
     ("127.1", "loopback"), ("[::1]", "loopback"), ("[::ffff:10.0.0.1]", "private"), ("10.1.2.3", "private"),
     ("169.254.169.254", "link-local"), ("[fe80::1]", "link-local"), ("224.0.0.251", "multicast"),
     ("0.0.0.0", "unspecified"), ("100.64.1.1", "shared"), ("192.168.0.1", "private"), ("[fd12::1]", "private")],
)  # fmt: skip
def test_ip_literals_in_every_spelling_are_refused(host: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ssrf_guard.check_url(f"http://{host}/hook", allow_private=False, resolver=None)


def test_hostnames_resolving_to_private_addresses_are_refused() -> None:
    resolve = resolver_for({"internal.example": ["10.0.0.7"], "mixed.example": ["93.184.216.34", "127.0.0.1"],
                            "public.example": ["93.184.216.34"]})  # fmt: skip
    with pytest.raises(ValueError, match="private"):
        ssrf_guard.check_url("https://internal.example/hook", False, resolve)
    with pytest.raises(ValueError, match="loopback"):
        ssrf_guard.check_url("https://mixed.example/hook", False, resolve)
    ssrf_guard.check_url("https://public.example/hook", False, resolve)
    ssrf_guard.check_url("https://unknown.example/hook", False, resolve)  # unresolvable now: checked at delivery
    ssrf_guard.check_url("http://127.0.0.1/hook", True, resolve)  # allowed when private webhooks are on


def test_dns_rebinding_is_caught_when_connecting() -> None:
    """The name looked public at create time; at delivery it resolves to loopback: refused at connect."""
    with WebhookReceiver() as receiver:
        resolve = resolver_for({"rebind.example": ["127.0.0.1"]})
        url = f"http://rebind.example:{receiver.port}/hook"
        with pytest.raises(BlockedAddress, match="loopback"):
            guarded_transport.post(url, b"{}", {"Content-Type": "application/json"}, 2.0, False, resolve)
        assert receiver.received == []
        # The same connection code reaches the address the resolver gave when private targets are allowed:
        # what is checked is exactly what is connected to.
        assert guarded_transport.post(url, b"{}", {"Content-Type": "application/json"}, 2.0, True, resolve) == 200
        assert len(receiver.received) == 1 and resolve.calls == ["rebind.example", "rebind.example"]
