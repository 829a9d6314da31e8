"""The several-hosts settings (sip.role, remote_workers, proxy_rpc, dialog_keepalive_s) and
the Kamailio configuration they generate, checked by the real ``kamailio -c``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from voicebot.config import load_settings, section_to
from voicebot.errors import ConfigError
from voicebot.telephony.kamailio import remote_workers_of, workers_of, write_config
from voicebot.telephony.settings import SipSettings

KAMAILIO = Path("/usr/sbin/kamailio")


def test_defaults_are_one_host() -> None:
    sip = section_to(SipSettings, load_settings(), "sip")
    assert sip.role == "all" and sip.remote_workers == () and sip.proxy_rpc == ""
    assert sip.media_address == sip.address


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"role": "edge"}, "role 'edge' is not one of all, proxy, host"),
        ({"remote_workers": ("10.0.0.2",)}, "remote_workers entry '10.0.0.2' is not ADDRESS:PORT"),
        ({"remote_workers": ("host-b:5070",)}, "is not ADDRESS:PORT"),
        ({"remote_workers": ("10.0.0.2:70000",)}, "is not ADDRESS:PORT"),
        ({"proxy_rpc": "udp:10.0.0.1:5090"}, "must be tcp:ADDRESS:PORT"),
        ({"proxy_rpc": "tcp:10.0.0.1"}, "proxy_rpc entry"),
        ({"role": "proxy"}, "role 'proxy' needs remote_workers"),
        ({"dialog_keepalive_s": 5.0}, "0 (off) or 30 or more"),
        ({"acd": True, "workers": 0}, "acd needs role 'all' and workers of 1 or more"),
        ({"acd": True, "role": "host"}, "acd needs role 'all'"),
    ],
)
def test_bad_host_settings_are_config_errors(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SipSettings(**changes)


def test_a_worker_host_binds_media_to_its_own_address() -> None:
    sip = SipSettings(address="10.1.0.1", worker_address="10.1.0.2", role="host")
    assert sip.media_address == "10.1.0.2"
    assert SipSettings(address="10.1.0.1", worker_address="127.0.0.1").media_address == "10.1.0.1"


def test_config_dispatches_to_remote_workers_and_keeps_dialogs(tmp_path: Path) -> None:
    if not KAMAILIO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("kamailio (Debian package) not installed")
        pytest.skip("kamailio not installed")
    sip = SipSettings(
        workers=2,
        worker_base_port=5170,
        remote_workers=("10.1.0.2:5070", "10.1.0.3:5070"),
        proxy_rpc="tcp:127.0.0.1:5190",
    )
    workers = workers_of(sip) + remote_workers_of(sip)
    cfg = write_config(sip, workers, tmp_path)
    listed = (tmp_path / "dispatcher.list").read_text()
    for uri in ("127.0.0.1:5170", "127.0.0.1:5171", "10.1.0.2:5070", "10.1.0.3:5070"):
        assert f"1 sip:{uri} 0 0" in listed
    text = cfg.read_text()
    assert 'modparam("ctl", "binrpc", "tcp:127.0.0.1:5190")' in text
    assert 'modparam("dialog", "ka_interval", 30)' in text
    assert 'set_dlg_profile("worker", "$si:$sp")' in text and "dlg_manage();" in text
    check = subprocess.run(
        [str(KAMAILIO), "-f", str(cfg), "-c"], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stderr[-2000:]
    off = write_config(SipSettings(dialog_keepalive_s=0), workers_of(sip), tmp_path / "off")
    assert "ka-dst" not in off.read_text() and "ka_interval" not in off.read_text()


def test_acd_config_registers_agents_and_passes_worker_invites_to_them(tmp_path: Path) -> None:
    """sip.acd on: REGISTER is saved in the location table, a worker's INVITE to a user goes
    through lookup("location"); off (the default): REGISTER stays 405 as before."""
    if not KAMAILIO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("kamailio (Debian package) not installed")
        pytest.skip("kamailio not installed")
    sip = SipSettings(workers=2, worker_base_port=5170, acd=True)
    cfg = write_config(sip, workers_of(sip), tmp_path)
    text = cfg.read_text()
    assert 'loadmodule "registrar.so"' in text and 'loadmodule "usrloc.so"' in text
    assert 'save("location")' in text and 'lookup("location")' in text
    assert 'ds_is_from_list("1")' in text
    # the agent branch comes after the allowed-networks check and before the dispatch
    assert text.index("is_in_subnet") < text.index('save("location")') < text.index("ds_select_dst")
    check = subprocess.run(
        [str(KAMAILIO), "-f", str(cfg), "-c"], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stderr[-2000:]
    off = write_config(SipSettings(), workers_of(sip), tmp_path / "off").read_text()
    assert 'save("location")' not in off and 'is_method("INVITE|OPTIONS")' in off
    assert section_to(SipSettings, load_settings(), "sip").acd is False
