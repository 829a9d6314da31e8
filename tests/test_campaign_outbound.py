"""Campaign calls over SIP, the parts without a network: the ``outbound`` settings, dial
strings, and what the dialer does when a dialer process dies mid-call (CallInterrupted:
the contact may have been reached, so it is never called again; its answers are kept).
The calls themselves are tested over real SIP in tests/sip/test_campaign_sip.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_campaigns import campaign, dial
from voicebot.center.campaigns.dialer import CallInterrupted
from voicebot.center.campaigns.outbound_settings import outbound_settings
from voicebot.config import load_settings
from voicebot.errors import ConfigError


def test_the_outbound_defaults_are_valid_and_numbers_get_the_domain() -> None:
    cfg = outbound_settings(load_settings())
    assert 1 <= cfg.calls_per_dialer <= 4 and cfg.survey == "spoken"
    assert cfg.dial_uri("+441632960001") == f"sip:+441632960001@{cfg.domain}"
    assert cfg.dial_uri("sip:ann@example.net") == "sip:ann@example.net"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"calls_per_dialer": 5}, "calls_per_dialer must be 1-4"),
        ({"survey": "telepathy"}, "spoken or keypad"),
        ({"proxy": "127.0.0.1:5060"}, "not a SIP URI"),
        ({"ring_timeout": 3}, "unknown key 'ring_timeout'"),
    ],
)
def test_bad_outbound_settings_name_the_key(
    tmp_path: Path, section: dict[str, object], message: str
) -> None:
    import yaml

    path = tmp_path / "settings.yml"
    path.write_text(yaml.safe_dump({"outbound": section}))
    with pytest.raises(ConfigError, match=message):
        outbound_settings(load_settings(path))


def test_a_call_cut_by_a_dead_dialer_process_is_never_redialled(tmp_path: Path) -> None:
    store = campaign(tmp_path, 3, retries={"failed": {"delay_s": 1, "max": 3}})
    calls: list[str] = []

    async def dies_mid_survey(contact, spec, answer):  # type: ignore[no-untyped-def]
        calls.append(contact.phone)
        answer("consent", "yes")
        raise CallInterrupted("dialer-0 died during the call")

    dial(store, dies_mid_survey)
    assert len(calls) == 3  # each once, although failed calls would be retried
    rows, _ = store.rows("csat")
    for row in rows:
        assert row["results"] == ["interrupted"] and row["state"] == "done"
        assert row["answers"] == {"consent": "yes"}
