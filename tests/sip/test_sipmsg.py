"""Pure parts of the line: SIP text readers, access checks, settings, Kamailio config."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from voicebot.config import load_settings, section_to
from voicebot.errors import ConfigError
from voicebot.telephony.access import Gatekeeper
from voicebot.telephony.kamailio import render_config, workers_of
from voicebot.telephony.settings import SipSettings
from voicebot.telephony.sipmsg import (
    parse_headers,
    parse_name_addr,
    uri_with_headers,
)

INVITE = (
    "INVITE sip:bot@10.0.0.5 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK1\r\n"
    'f: "Ann Smith" <sip:+31612345678@pbx.example>;tag=77\r\n'
    "To: <sip:bot@10.0.0.5>\r\n"
    "i: abc@10.0.0.9\r\n"
    "X-Account: 1\r\nX-Account: 2\r\n"
    "Subject: folded\r\n  line\r\n"
    "\r\n"
    "v=0\r\nm=audio 4000 RTP/AVP 18 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)


def test_parse_headers_and_from() -> None:
    h = parse_headers(INVITE)
    assert h["call-id"] == "abc@10.0.0.9"
    assert h["x-account"] == "1, 2"
    assert h["subject"] == "folded line"
    assert parse_name_addr(h["from"]) == (
        "Ann Smith",
        "sip:+31612345678@pbx.example",
        "+31612345678",
    )
    assert parse_name_addr("<sip:anonymous@anonymous.invalid>;tag=1")[2] == ""
    assert parse_name_addr("sip:200@pbx;tag=1") == ("", "sip:200@pbx", "200")


def test_refer_to_carries_headers_escaped() -> None:
    uri = uri_with_headers("sip:billing@pbx", {"X-Voicebot-Summary": "a b&c=d"})
    assert uri == "sip:billing@pbx?X-Voicebot-Summary=a%20b%26c%3Dd"


def _digest(user: str, realm: str, pw: str, nonce: str, uri: str) -> str:
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    ha1, ha2 = md5(f"{user}:{realm}:{pw}"), md5(f"INVITE:{uri}")
    return md5(f"{ha1}:{nonce}:00000001:xyz:auth:{ha2}")


def test_gatekeeper_networks_proxy_and_digest() -> None:
    g = Gatekeeper(("10.0.0.0/8",), ("127.0.0.1",), "pbx", "pw", "vb")
    assert g.check("192.168.1.5:5060", "INVITE", {}).status == 403
    # behind the trusted proxy, its header names the caller
    assert (
        g.check("127.0.0.1:5060", "INVITE", {"x-voicebot-source": "192.168.1.5:5060"}).status == 403
    )
    # an untrusted sender cannot claim an allowed source
    assert g.check("192.168.1.5:5060", "INVITE", {"x-voicebot-source": "10.1.1.1:5"}).status == 403
    v = g.check("10.1.2.3:5060", "INVITE", {})
    assert v.status == 401 and 'realm="vb"' in v.challenge
    nonce = v.challenge.split('nonce="')[1].split('"')[0]
    resp = _digest("pbx", "vb", "pw", nonce, "sip:bot@x")
    auth = (
        f'Digest username="pbx", realm="vb", nonce="{nonce}", uri="sip:bot@x", '
        f'response="{resp}", qop=auth, nc=00000001, cnonce="xyz"'
    )
    assert g.check("10.1.2.3:5060", "INVITE", {"authorization": auth}).status == 0
    bad = auth.replace(resp, "0" * 32)
    assert g.check("10.1.2.3:5060", "INVITE", {"authorization": bad}).status == 403
    forged = auth.replace(nonce, "1." + "0" * 24)
    assert g.check("10.1.2.3:5060", "INVITE", {"authorization": forged}).status == 401


def test_settings_defaults_and_errors() -> None:
    s = section_to(SipSettings, load_settings(), "sip")
    assert s.capacity == 16 and s.codecs == ("PCMU", "PCMA") and s.port == 5060
    with pytest.raises(ConfigError):
        SipSettings(codecs=("PCMU", "G729"))
    with pytest.raises(ConfigError):
        SipSettings(calls_per_worker=5)
    with pytest.raises(ConfigError):
        SipSettings(allowed_networks=("not-a-net",))
    with pytest.raises(ConfigError):
        SipSettings(auth_user="x")


def test_kamailio_config_lists_workers_and_networks(tmp_path: Path) -> None:
    if not Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/dispatcher.so").exists():
        pytest.skip("kamailio not installed")
    s = SipSettings(port=5999, workers=3, worker_base_port=6000, allowed_networks=("10.0.0.0/8",))
    ws = workers_of(s)
    assert [w.port for w in ws] == [6000, 6001, 6002]
    assert [w.rtp_port for w in ws] == [20000, 20200, 20400]
    cfg = render_config(s, ws, tmp_path / "d.list", tmp_path / "ctl.sock")
    assert "listen=udp:127.0.0.1:5999" in cfg and "listen=tcp:127.0.0.1:5999" in cfg
    assert 'is_in_subnet("$si", "10.0.0.0/8")' in cfg
    assert 'ds_select_dst("1", "4")' in cfg


def test_nonce_of_one_worker_is_good_in_another() -> None:
    """Kamailio may send the authenticated retry to another worker process."""
    a = Gatekeeper(("10.0.0.0/8",), (), "pbx", "pw", "vb")
    b = Gatekeeper(("10.0.0.0/8",), (), "pbx", "pw", "vb")
    nonce = a.challenge().split('nonce="')[1].split('"')[0]
    resp = _digest("pbx", "vb", "pw", nonce, "sip:bot@x")
    auth = (
        f'Digest username="pbx", realm="vb", nonce="{nonce}", uri="sip:bot@x", '
        f'response="{resp}", qop=auth, nc=00000001, cnonce="xyz"'
    )
    assert b.check("10.1.2.3:5060", "INVITE", {"authorization": auth}).status == 0
