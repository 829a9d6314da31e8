"""A small real campaign for the dashboard's campaign tests: a campaign YAML and a contact
CSV imported into a real campaign store, dialled by the real dialer against the simulated
respondents of ``voicebot campaign start --simulate`` (virtual clock; no SIP here: the SIP
dialing is tested in tests/sip/test_campaign_sip.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from voicebot.center.campaigns.contacts import read_contacts
from voicebot.center.campaigns.dialer import Dialer
from voicebot.center.campaigns.simulation import Respondents
from voicebot.center.campaigns.spec import load_campaign
from voicebot.center.campaigns.store import CampaignStore
from voicebot.center.simulation import run_virtual

CAMPAIGN_YAML = """\
name: webcsat
dialog: survey_csat
window: {days: daily, hours: '00:00-24:00'}
pacing: {max_concurrent: 4, max_rate_per_s: 2}
retries:
  busy: {delay_s: 60, max: 1}
  no_answer: {delay_s: 60, max: 1}
max_attempts: 3
"""


def make_campaign(
    folder: Path, contacts: int = 24, *, dial: bool = True, stop_after: int | None = None
) -> CampaignStore:
    """Import campaign ``webcsat`` with ``contacts`` contacts from files written to
    ``folder`` into ``folder/campaigns.sqlite3``; ``dial``: run it (seed 7) to the end, or
    stop the dialer once it has placed ``stop_after`` calls (the campaign is left
    ``ready`` with contacts still to call, as a campaign in progress is)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "webcsat.yml").write_text(CAMPAIGN_YAML)
    lines = ["phone,name,timezone,language,plan"]
    lines += [f"+4416329{i:05d},Person {i},Europe/London,en,gold" for i in range(contacts)]
    (folder / "contacts.csv").write_text("\n".join(lines) + "\n")
    spec = load_campaign(folder / "webcsat.yml")
    rows, errors = read_contacts(folder / "contacts.csv")
    assert not errors and len(rows) == contacts
    store = CampaignStore(folder / "campaigns.sqlite3")
    epoch = time.time()
    store.import_campaign(spec, rows, epoch)
    if dial:
        respondents = Respondents(seed=7, epoch=epoch)

        async def callee(contact: Any, spec: Any, answer: Any) -> Any:
            if stop_after is not None and sum(respondents.calls.values()) + 1 >= stop_after:
                dialer.stop()
            return await respondents(contact, spec, answer)

        dialer = Dialer(store, "webcsat", callee, epoch=epoch)

        async def go() -> object:
            return await dialer.run()

        run_virtual(go())
    return store
