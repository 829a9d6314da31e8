"""``voicebot campaign``: outbound survey campaigns.

    voicebot campaign import CAMPAIGN.yml CONTACTS.csv [--skip-bad]
    voicebot campaign start NAME [--simulate SEED]
    voicebot campaign pause|resume NAME
    voicebot campaign status [NAME]
    voicebot campaign export NAME [--out FOLDER]

State lives in ``var/campaigns.sqlite3``. ``import`` refuses a contact list with bad rows
and names every one (``--skip-bad`` imports the good rows and still lists the bad).
``start`` runs the dialer in the foreground until no contact is due or the campaign is
paused from another shell; it refuses a paused campaign (exit 2: ``resume`` it first). It
places the calls over SIP through dialer processes (the ``outbound`` settings; their logs
in ``var/log/campaign-NAME/``); killed and started again, it goes on without calling anyone
twice. ``--simulate SEED`` answers with simulated respondents on a virtual clock instead
(pacing, windows, retries, do-not-call, answers and the results are real).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from voicebot.errors import ConfigError, DataError
from voicebot.paths import var_dir

if TYPE_CHECKING:
    from voicebot.center.campaigns.dialer import DialerStats
    from voicebot.center.campaigns.store import CampaignStore

HELP = "outbound survey campaigns: import, start, pause, resume, status, export"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="create or extend a campaign from its file and contacts")
    imp.add_argument("campaign", type=Path, help="campaign YAML")
    imp.add_argument("contacts", type=Path, help="contact list CSV")
    imp.add_argument("--skip-bad", action="store_true", help="import the good rows anyway")
    start = sub.add_parser("start", help="run the dialer until nothing is due")
    start.add_argument("name")
    start.add_argument(
        "--simulate",
        type=int,
        metavar="SEED",
        help="simulated respondents on a virtual clock instead of SIP calls",
    )
    for action, text in (("pause", "stop placing new calls"), ("resume", "allow calls again")):
        p = sub.add_parser(action, help=text)
        p.add_argument("name")
    status = sub.add_parser("status", help="contacts by state, attempts by result, funnel")
    status.add_argument("name", nargs="?")
    export = sub.add_parser("export", help="answers and attempts as CSV, report JSON + PNG")
    export.add_argument("name")
    export.add_argument("--out", type=Path, help="folder (default var/campaigns/NAME)")


def _store() -> CampaignStore:
    from voicebot.center.campaigns.store import CampaignStore

    return CampaignStore(var_dir() / "campaigns.sqlite3")


def _start_sip(store: CampaignStore, name: str) -> int:
    """Dial campaign ``name`` over SIP until nothing is due (or it is paused)."""
    import asyncio
    import signal

    from voicebot.center.campaigns import results
    from voicebot.center.campaigns.dialer import Dialer
    from voicebot.center.campaigns.outbound_settings import outbound_settings
    from voicebot.center.campaigns.sipcallee import SipCallee
    from voicebot.config import load_settings

    spec = store.spec(name)
    cfg = outbound_settings(load_settings())
    callee = SipCallee(
        store.path, cfg, spec.max_concurrent, log_dir=var_dir() / "log" / f"campaign-{name}"
    )

    async def dial() -> DialerStats:
        await callee.start()
        dialer = Dialer(store, name, callee)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, dialer.stop)
        try:
            return await dialer.run()
        finally:
            await callee.close()

    stats = asyncio.run(dial())
    print(
        f"campaign {name}: placed {stats.placed} calls over SIP (at most "
        f"{stats.peak_concurrent} at once), {stats.postponed} postponed to the window"
    )
    print(json.dumps(results.report(store, name)["funnel"]))
    return 0


def run(args: argparse.Namespace) -> int:
    from voicebot.center.campaigns import results

    store = _store()
    if args.action == "import":
        from voicebot.center.campaigns.contacts import describe_errors, read_contacts
        from voicebot.center.campaigns.spec import load_campaign

        spec = load_campaign(args.campaign)
        contacts, errors = read_contacts(args.contacts)
        if errors and not args.skip_bad:
            raise DataError(
                f"{len(errors)} bad rows in {args.contacts}; nothing imported:\n"
                + describe_errors(args.contacts, errors),
                hint="fix them, or import the good rows with --skip-bad",
            )
        total = store.import_campaign(spec, contacts, time.time())
        print(f"campaign {spec.name}: {len(contacts)} contacts read, {total} in the campaign")
        if errors:
            print(f"skipped {len(errors)} bad rows:\n" + describe_errors(args.contacts, errors))
        return 0
    if args.action == "start":
        if store.state(args.name) == "paused":  # before any dialer process starts
            from voicebot.center.campaigns.store import paused_error

            raise paused_error(args.name)
        if args.simulate is None:
            return _start_sip(store, args.name)
        from voicebot.center.campaigns.dialer import Dialer
        from voicebot.center.campaigns.simulation import Respondents
        from voicebot.center.simulation import run_virtual

        epoch = time.time()
        respondents = Respondents(seed=args.simulate, epoch=epoch)

        async def dial() -> DialerStats:
            return await Dialer(store, args.name, respondents, epoch=epoch).run()

        stats = run_virtual(dial())
        print(
            f"campaign {args.name}: placed {stats.placed} calls (at most "
            f"{stats.peak_concurrent} at once), {stats.postponed} postponed to the window"
        )
        print(json.dumps(results.report(store, args.name)["funnel"]))
        return 0
    if args.action in ("pause", "resume"):
        store.set_state(args.name, "paused" if args.action == "pause" else "ready")
        print(f"campaign {args.name}: {store.state(args.name)}")
        return 0
    if args.action == "status":
        names = [args.name] if args.name else store.campaigns()
        for name in names:
            report = results.report(store, name)
            print(f"{name} ({store.state(name)})")
            print("  contacts: " + ", ".join(f"{k} {v}" for k, v in report["contacts"].items()))
            print("  attempts: " + ", ".join(f"{k} {v}" for k, v in report["attempts"].items()))
            print("  funnel:   " + ", ".join(f"{k} {v}" for k, v in report["funnel"].items()))
        if not names:
            print("no campaigns yet: voicebot campaign import CAMPAIGN.yml CONTACTS.csv")
        return 0
    if args.action == "export":
        store.spec(args.name)
        folder = args.out or var_dir() / "campaigns" / args.name
        rows = results.export_csv(store, args.name, folder / "results.csv")
        report = results.report(store, args.name)
        (folder / "report.json").write_text(json.dumps(report, indent=1))
        results.plot_report(report, folder / "report.png")
        print(f"wrote {rows} rows to {folder / 'results.csv'}, report.json and report.png")
        return 0
    raise ConfigError(f"unknown action {args.action}")
