"""Admission control under bursts: how often does a host get more calls than its capacity?

Issue 11's race: Kamailio admits at most ``sip.max_calls`` calls per host (``route[ADMIT]``),
yet a burst of three INVITEs within 6 ms was once all answered, one host over its capacity.
This benchmark offers many bursts (``--calls`` INVITEs sent back to back from one UDP
socket, see tests/sip/burst.py) and counts, per burst, the calls answered on each host
against its capacity. Before each burst it waits until Kamailio counts no call (so every
burst starts from empty hosts); a place that is never given back shows as a burst that
started with calls counted.

Setups (real SIP, real Kamailio, ``voicebot serve --demo`` workers; the demo handler stands
in for the voice pipeline: this is about counting, not speech):

- ``--hosts 1``: one ``serve`` (Kamailio and ``--workers`` workers) on 127.0.0.1;
- ``--hosts 2``: network namespaces (root only) as in tests/multihost: a proxy (Kamailio),
  hosts ``a`` and ``b`` with ``--workers`` workers each (2 calls per worker), a caller.

``--root DIR`` runs ``serve`` from another checkout (e.g. the code before the fix, exported
with ``git archive``), to measure "without the fix" on the same bursts.

    PYTHONPATH=$PWD .venv/bin/python bench/admission_race.py --hosts 2 --capacity 1 \\
        --calls 3 --bursts 30 --out bench/results/admission_race.json

Writes (merges into) ``--out`` under the key ``<label>/hosts<h>/cap<c>/calls<n>``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sip"))
sys.path.insert(0, str(ROOT / "tests" / "multihost"))
from burst import BurstCaller, wait_free  # noqa: E402

PYTHON = sys.executable


def _serve_cmd(a: argparse.Namespace) -> list[str]:
    """``voicebot serve`` (through tests/sip/admission_widen.py with ``--widen-us``)."""
    if a.widen_us:
        return [
            PYTHON,
            str(ROOT / "tests" / "sip" / "admission_widen.py"),
            str(a.widen_us),
            "serve",
        ]
    return [PYTHON, "-m", "voicebot.cli", "serve"]


def _serve_env(root: Path, cfg: Path, var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(var),
        "PYTHONPATH": str(root),
        "PYTHONUNBUFFERED": "1",
    }


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"no {text!r} in {log}:\n" + log.read_text(errors="replace")[-3000:])


def _summary(bursts: list[dict[str, Any]], capacity: dict[str, int]) -> dict[str, Any]:
    over = [
        b
        for b in bursts
        if any(n > capacity.get(h, 0) for h, n in b["answered"].items())
        or sum(b["answered"].values()) > sum(capacity.values())
    ]
    return {
        "bursts": len(bursts),
        "over_admitted_bursts": len(over),
        "over_admitted_calls": sum(
            max(0, n - capacity.get(h, 0)) for b in over for h, n in b["answered"].items()
        ),
        "under_admitted_bursts": sum(
            1
            for b in bursts
            if sum(b["answered"].values()) < min(b["calls"], sum(capacity.values()))
        ),
        "places_not_given_back": sum(
            1 for b in bursts if any(b.get("counted_before", {}).values())
        ),
        "other_answers": sum(sum(b["other"].values()) for b in bursts),
        "spread_ms_max": max((b["spread_ms"] for b in bursts), default=0.0),
        "free_wait_s_max": max((b.get("free_wait_s", 0.0) for b in bursts), default=0.0),
    }


def one_host(a: argparse.Namespace, folder: Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Bursts against Kamailio and ``a.workers`` workers on 127.0.0.1."""
    from conftest import free_port

    cfg = folder / "settings.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "sip": {
                    "rtp_ports": 40,
                    "shutdown_grace_s": 5,
                    "media_timeout_s": 20,
                    "max_calls": a.capacity,
                    "retry_after_s": 7,
                }
            }
        )
    )
    port, workers, rtp = free_port(), free_port(), free_port()
    log = folder / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*_serve_cmd(a), "--demo", "--port", str(port),
             "--workers", str(a.workers), "--worker-base-port", str(20000 + workers % 20000),
             "--rtp-base-port", str(30000 + rtp % 20000)],
            stdout=out, stderr=subprocess.STDOUT, cwd=a.root, start_new_session=True,
            env=_serve_env(a.root, cfg, folder / "var"),
        )  # fmt: skip
    try:
        _wait_for(log, "answering SIP", proc, 120)
        ctl = f"unix:{folder / 'var' / 'sip' / 'kamailio' / 'ctl.sock'}"
        caller = BurstCaller(("127.0.0.1", port))
        bursts = []
        try:
            for i in range(a.bursts):
                t0 = time.monotonic()
                before = wait_free(ctl, ["127.0.0.1"])
                waited = round(time.monotonic() - t0, 3)
                b = caller.burst(a.calls, a.hold_s)
                bursts.append({**b.__dict__, "counted_before": before, "free_wait_s": waited})
                print(i, json.dumps(bursts[-1]), flush=True)
        finally:
            caller.close()
        return bursts, {"127.0.0.1": a.capacity}
    finally:
        proc.terminate()
        proc.wait(60)


def two_hosts(a: argparse.Namespace, folder: Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Bursts from a caller namespace through a proxy namespace to hosts ``a`` and ``b``."""
    from cluster import host_settings, proxy_settings
    from netns import Lab, can_run

    why = can_run()
    if why:
        raise SystemExit(why)
    lab = Lab(folder)
    try:
        proxy, ha, hb, caller = (lab.add_host(n) for n in ("proxy", "a", "b", "caller"))
        net = f"{lab.prefix}.0/24"
        procs = []
        for h in (ha, hb):
            procs.append((h, host_settings(h, proxy, a.workers, net)))
        ps = proxy_settings(proxy, [ha, hb], a.workers, net)
        ps["sip"].update({"max_calls": a.capacity, "retry_after_s": 11})
        ps.pop("redis")
        started = []
        for h, settings in [*procs, (proxy, ps)]:
            cfg = h.folder / "settings.yml"
            cfg.write_text(yaml.safe_dump(settings, sort_keys=False))
            env = _serve_env(a.root, cfg, h.folder / "var")
            p = h.start("serve", [*_serve_cmd(a), "--demo"], env, a.root)
            started.append(p)
        for p in started:
            p.wait_for("answering SIP", 120)
        ctl = f"unix:{proxy.folder / 'var' / 'sip' / 'kamailio' / 'ctl.sock'}"
        hosts = [ha.address, hb.address]
        run = caller.run(
            [PYTHON, str(ROOT / "tests" / "sip" / "burst.py"), "--target",
             f"{proxy.address}:5060", "--bind", caller.address, "--calls", str(a.calls),
             "--bursts", str(a.bursts), "--hold-s", str(a.hold_s), "--ctl", ctl,
             "--hosts", ",".join(hosts)],
            timeout_s=60 + a.bursts * 30,
        )  # fmt: skip
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-3000:])
        bursts = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        for i, b in enumerate(bursts):
            print(i, json.dumps(b), flush=True)
        return bursts, {h: a.capacity for h in hosts}
    finally:
        lab.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, choices=(1, 2), default=1)
    p.add_argument("--capacity", type=int, default=1, help="sip.max_calls of each host")
    p.add_argument("--calls", type=int, default=3, help="INVITEs per burst")
    p.add_argument("--bursts", type=int, default=30)
    p.add_argument("--workers", type=int, default=2, help="workers per host")
    p.add_argument("--hold-s", type=float, default=0.3, help="answered calls held (s)")
    p.add_argument("--root", type=Path, default=ROOT, help="checkout that runs serve")
    p.add_argument("--label", default="fixed", help="e.g. 'fixed' or 'before'")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "admission_race.json")
    p.add_argument(
        "--widen-us",
        type=int,
        default=0,
        help="sleep this long (us) inside route[ADMIT] between reading and taking a place",
    )
    p.add_argument("--keep", type=Path, default=None, help="keep the logs in this folder")
    a = p.parse_args()
    a.root = a.root.resolve()
    started = time.time()
    load = os.getloadavg()[0]
    run = one_host if a.hosts == 1 else two_hosts
    if a.keep is not None:
        a.keep.mkdir(parents=True, exist_ok=True)
        bursts, capacity = run(a, a.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="admission-race-") as tmp:
            bursts, capacity = run(a, Path(tmp))
    summary = _summary(bursts, capacity)
    result = {
        **summary,
        "hosts": a.hosts,
        "capacity_per_host": a.capacity,
        "calls_per_burst": a.calls,
        "workers_per_host": a.workers,
        "widen_us": a.widen_us,
        "root": str(a.root),
        "commit": subprocess.run(
            ["git", "-C", str(a.root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        or "exported",  # fmt: skip
        "load_1min_at_start": round(load, 2),
        "seconds": round(time.time() - started, 1),
        "answered_per_burst": [b["answered"] for b in bursts],
    }
    print(json.dumps({k: v for k, v in result.items() if k != "answered_per_burst"}, indent=1))
    key = f"{a.label}/hosts{a.hosts}/cap{a.capacity}/calls{a.calls}/widen{a.widen_us}"
    data = json.loads(a.out.read_text()) if a.out.exists() else {}
    data[key] = result
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
