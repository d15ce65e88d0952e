"""Matching certificate names: permitted-peer patterns and the hosts a TLS sender may
send for (aiops/syslog_tls_peers.py), on certificates as ``getpeercert`` gives them."""

from __future__ import annotations

import pytest

from aiops.errors import InputError
from aiops.syslog_tls_peers import NotPermitted, PeerPolicy, checked_pattern, matches


def certificate(*dns: str, cn: str = "device", ips: tuple[str, ...] = ()) -> dict:
    return {"subject": ((("commonName", cn),),),
            "subjectAltName": tuple(("DNS", n) for n in dns)
            + tuple(("IP Address", ip) for ip in ips)}


def test_a_wildcard_stands_for_exactly_one_left_most_label() -> None:
    pattern = checked_pattern("*.DC1.example.net.", "--tls-permitted-peer")
    assert matches(pattern, "r7.dc1.example.net")
    assert matches(pattern, "R7.DC1.EXAMPLE.NET.")
    assert not matches(pattern, "dc1.example.net")
    assert not matches(pattern, "a.b.dc1.example.net")
    assert not matches(pattern, "r7.dc1.example.net.evil.org")
    with pytest.raises(InputError, match="--tls-relay-peer 'r\\*.example.net'"):
        checked_pattern("r*.example.net", "--tls-relay-peer")


def test_the_common_name_counts_only_without_a_dns_name() -> None:
    policy = PeerPolicy(permitted=["r9.example.net"])
    assert policy.admit(certificate(cn="r9.example.net"), "192.0.2.9") is None
    with pytest.raises(NotPermitted, match="'other.example.org'"):
        policy.admit(certificate("other.example.org", cn="r9.example.net"), "192.0.2.9")


def test_a_bound_certificate_sends_for_its_names_short_names_and_addresses() -> None:
    policy = PeerPolicy(bind_hostname=True, relays=["relay.example.net"])
    hosts = policy.admit(certificate("edge-1.example.net", "*.pods.example.net",
                                     ips=("2001:DB8:0:0:0:0:0:7\n",)), "::ffff:192.0.2.7")
    assert hosts is not None
    allowed = ["edge-1.example.net", "EDGE-1.example.net.", "edge-1",  # its short name
               "a.pods.example.net", "2001:db8::7", "192.0.2.7"]  # the sender's own address
    refused = ["edge-2.example.net", "edge-1.example.org", "edge-2", "pods",
               "b.a.pods.example.net", "192.0.2.8", "example.net"]
    assert [h for h in allowed if not hosts.allows(h)] == []
    assert [h for h in refused if hosts.allows(h)] == []
    assert policy.admit(certificate("relay.example.net"), "192.0.2.1") is None  # any host
