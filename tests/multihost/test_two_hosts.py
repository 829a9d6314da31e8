"""Two worker hosts behind one Kamailio, in network namespaces: real SIP, real media.

Four namespaces on a private /24: ``proxy`` runs ``voicebot serve`` with ``sip.role: proxy``
(Kamailio dispatching to the workers of both hosts, and the shared Redis); ``a`` and ``b``
run ``voicebot serve --demo`` with ``sip.role: host`` (two demo workers each, on the host's
own address); ``caller`` runs SIPp. Signalling goes through the proxy, media straight
between the caller and the worker host that answered. The demo handler stands in for the
voice pipeline (no models) because this test is about the telephony across hosts.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cluster import (
    PYTHON,
    REDIS_PASSWORD,
    REDIS_PORT,
    SIP_PORT,
    WORKER_BASE_PORT,
    Serve,
    answers,
    host_settings,
    lab_fixture,  # noqa: F401 - the lab fixture
    proxy_settings,
    render,
    serve,
    sipp_in,
    sipp_wait,
)
from netns import Host, Lab

RELEASE_LIMIT_S = 5.0
HOST_GONE_LIMIT_S = 15.0
KAMAILIO_ALLOWED = (
    (
        r"dialog \[dlg_req_within\.c:\d+\]: send_bye\(\): terminating non-confirmed dialogs",
        "the host that vanishes: the proxy's DownWatch ends its call by RPC (BYE to both "
        "sides), and later the dialog keepalive (sip.dialog_keepalive_s, OPTIONS to the dead "
        "worker) tries to end the same dialog again, which Kamailio refuses once it is ending",
    ),
)
"""Kamailio ERROR lines this module provokes on purpose (tests/_kamailio_log.py)."""
WORKERS_PER_HOST = 2


@dataclass
class Cluster:
    proxy: Serve
    hosts: dict[str, Serve]
    caller: Host
    lab: Lab
    net: str

    @property
    def target(self) -> str:
        return f"{self.proxy.host.address}:{SIP_PORT}"

    def reports(self) -> list[dict]:
        return [r for s in self.hosts.values() for r in s.reports()]

    def by_address(self, address: str) -> Serve:
        return next(s for s in self.hosts.values() if s.host.address == address)

    def wait_reports(self, count: int, timeout_s: float = 15.0) -> list[dict]:
        end = time.monotonic() + timeout_s
        while len(self.reports()) < count and time.monotonic() < end:
            time.sleep(0.1)
        return self.reports()


@pytest.fixture(scope="module")
def cluster(lab: Lab) -> Iterator[Cluster]:
    proxy, a, b, caller = (lab.add_host(n) for n in ("proxy", "a", "b", "caller"))
    net = f"{lab.prefix}.0/24"
    hosts = {h.name: serve(h, host_settings(h, proxy, WORKERS_PER_HOST, net)) for h in (a, b)}
    front = serve(proxy, proxy_settings(proxy, [a, b], WORKERS_PER_HOST, net))
    cluster = Cluster(front, hosts, caller, lab, net)
    yield cluster
    for s in (front, *cluster.hosts.values()):
        assert s.process.stop(40) == 0, s.process.output()[-3000:]


def test_calls_spread_over_both_hosts_with_media_straight_to_the_host(
    cluster: Cluster, tmp_path: Path
) -> None:
    run = sipp_in(
        cluster.caller,
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="2000"),
        cluster.target,
        tmp_path,
        calls=8,
        rate=20,
        background=True,
    )
    res = sipp_wait(run, 60)
    assert res.returncode == 0 and res.successful == 8, res.log[-3000:]
    assert "Record-Route:" in res.messages  # in-dialog requests went through the proxy
    answered = answers(tmp_path / f"{run.tag}.msg", 8)
    for address, _port, sdp in answered:
        assert sdp == address  # each worker offers media on its own host's address
    assert {a for a, _, _ in answered} == {s.host.address for s in cluster.hosts.values()}
    reports = cluster.wait_reports(8)
    assert len(reports) == 8
    for host in cluster.hosts.values():
        assert len(host.reports()) >= 2, f"host {host.host.name} took too few calls"
    for r in reports:
        assert [d["digit"] for d in r["digits"]] == ["1", "2", "3", "5"]
        assert r["frames"] >= 100  # the caller's speech reached the host that answered
        assert r["source"].split(":")[0] == cluster.caller.address  # from X-Voicebot-Source


def test_both_hosts_reach_the_one_redis(cluster: Cluster) -> None:
    code = (
        "import redis, sys; r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), "
        "password=sys.argv[3]); op = sys.argv[4]\n"
        "if op == 'set': r.set('lab:conversation', 'started on a')\n"
        "else: print(r.get('lab:conversation').decode())"
    )
    proxy = cluster.proxy.host.address
    args = [proxy, str(REDIS_PORT), REDIS_PASSWORD]
    a, b = cluster.hosts["a"].host, cluster.hosts["b"].host
    wrote = a.run([PYTHON, "-c", code, *args, "set"])
    assert wrote.returncode == 0, wrote.stderr
    read = b.run([PYTHON, "-c", code, *args, "get"])
    assert read.returncode == 0 and read.stdout.strip() == "started on a", read.stderr
    # The caller's namespace reaches Redis too (one flat lab network), but without the
    # password it gets nothing.
    denied = cluster.caller.run([PYTHON, "-c", code, proxy, str(REDIS_PORT), "", "get"])
    assert denied.returncode != 0 and "Authentication" in denied.stderr


def test_a_worker_killed_on_one_host_releases_its_caller_and_spares_the_others(
    cluster: Cluster, tmp_path: Path
) -> None:
    before = len(cluster.reports())
    silent = sipp_in(
        cluster.caller,
        render("uac_wait_bye.xml", tmp_path),
        cluster.target,
        tmp_path,
        background=True,
    )
    ((a_addr, a_port, _),) = answers(tmp_path / f"{silent.tag}.msg", 1)
    # Three more calls: round robin puts them on the three other workers of both hosts.
    others = sipp_in(
        cluster.caller,
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="8000"),
        cluster.target,
        tmp_path,
        calls=3,
        rate=20,
        background=True,
    )
    spared = answers(tmp_path / f"{others.tag}.msg", 3)
    assert (a_addr, a_port) not in {(addr, port) for addr, port, _ in spared}
    assert {addr for addr, _, _ in spared} == {s.host.address for s in cluster.hosts.values()}
    victim_host = cluster.by_address(a_addr)
    name = victim_host.worker_on_port(a_port)
    dead_pid = victim_host.ready(name)["pid"]
    time.sleep(1.0)

    killed_at = time.monotonic()
    os.kill(dead_pid, signal.SIGKILL)  # the worker process on host a or b, mid-call
    res = sipp_wait(silent, 30)
    released_s = time.monotonic() - killed_at
    print(f"caller released {released_s:.2f} s after the worker's SIGKILL")
    assert res.returncode == 0 and res.successful == 1, res.log[-2000:]
    assert released_s < RELEASE_LIMIT_S, f"caller released after {released_s:.1f} s"
    assert "ended 1 of its 1 calls through Kamailio" in victim_host.process.output()

    done = sipp_wait(others, 40)
    assert done.returncode == 0 and done.successful == 3, done.log[-2000:]
    new = cluster.wait_reports(before + 3)
    assert len(new) == before + 3
    for r in new[-3:]:
        assert [d["digit"] for d in r["digits"]] == ["1", "2", "3", "5"]

    # The host's supervisor restarts the worker; Kamailio dispatches to it again.
    end = time.monotonic() + 30
    while victim_host.ready(name).get("pid") in (None, dead_pid) and time.monotonic() < end:
        time.sleep(0.2)
    new_pid = victim_host.ready(name).get("pid")
    assert new_pid not in (None, dead_pid), f"{name} on {victim_host.host.name} not restarted"
    again = sipp_in(
        cluster.caller,
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="1500"),
        cluster.target,
        tmp_path,
        calls=4,
        rate=20,
    )
    assert again.returncode == 0 and again.successful == 4, again.log[-3000:]
    pids = {r["worker_pid"] for r in cluster.wait_reports(before + 7)}
    assert new_pid in pids


def test_an_operator_adds_a_host_without_restarting_the_proxy(
    cluster: Cluster, tmp_path: Path
) -> None:
    """README "Running on several hosts": start the new host, list its workers on the
    proxy, SIGHUP the proxy's voicebot serve; new calls reach the new host too."""
    proxy = cluster.proxy.host
    c = cluster.lab.add_host("c")
    cluster.hosts["c"] = serve(c, host_settings(c, proxy, WORKERS_PER_HOST, cluster.net))
    cfg = proxy.folder / "settings.yml"
    settings = yaml.safe_load(cfg.read_text())
    settings["sip"]["remote_workers"] += [
        f"{c.address}:{WORKER_BASE_PORT + i}" for i in range(WORKERS_PER_HOST)
    ]
    cfg.write_text(yaml.safe_dump(settings, sort_keys=False))
    ongoing = sipp_in(  # a call in progress while the proxy reloads its list
        cluster.caller,
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="6000"),
        cluster.target,
        tmp_path,
        background=True,
    )
    answers(tmp_path / f"{ongoing.tag}.msg", 1)
    cluster.proxy.process.proc.send_signal(signal.SIGHUP)
    cluster.proxy.process.wait_for("dispatching to 0 local + 6 remote workers", 10)
    assert "did not reload" not in cluster.proxy.process.output()

    before = {name: len(s.reports()) for name, s in cluster.hosts.items()}
    run = sipp_in(
        cluster.caller,
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="1500"),
        cluster.target,
        tmp_path,
        calls=6,
        rate=20,
        background=True,
    )
    res = sipp_wait(run, 60)
    assert res.returncode == 0 and res.successful == 6, res.log[-3000:]
    kept = sipp_wait(ongoing, 40)
    assert kept.returncode == 0 and kept.successful == 1, kept.log[-2000:]
    answered = {addr for addr, _, _ in answers(tmp_path / f"{run.tag}.msg", 6)}
    assert answered == {s.host.address for s in cluster.hosts.values()}
    cluster.wait_reports(sum(before.values()) + 7)
    assert len(cluster.hosts["c"].reports()) >= 1
    assert all(len(cluster.hosts[n].reports()) > before[n] for n in ("a", "b"))


def test_a_host_that_vanishes_has_its_calls_ended_by_the_proxy(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Power cut: every process of the host that answered a call is killed and its network
    goes down, so nothing on it can report anything. Kamailio's probes (OPTIONS every 2 s,
    2 misses) mark its workers down and the proxy ends their calls; new calls go elsewhere."""
    silent = sipp_in(
        cluster.caller,
        render("uac_wait_bye.xml", tmp_path),
        cluster.target,
        tmp_path,
        timeout_s=60,
        background=True,
    )
    ((address, _port, _),) = answers(tmp_path / f"{silent.tag}.msg", 1)
    victim = cluster.by_address(address)
    name = next(n for n, s in cluster.hosts.items() if s is victim)
    time.sleep(1.0)

    gone_at = time.monotonic()
    victim.host.run(["ip", "link", "set", "eth0", "down"])
    victim.process.kill()  # voicebot serve's process group: the supervisor
    for pid in victim.host.lab_pids():  # and its workers, in their own process groups
        os.kill(pid, signal.SIGKILL)
    del cluster.hosts[name]
    during = sipp_in(  # a new call during the outage is answered by another host
        cluster.caller,
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="1000"),
        cluster.target,
        tmp_path,
        background=True,
    )
    res = sipp_wait(silent, 40)
    released_s = time.monotonic() - gone_at
    print(f"caller released {released_s:.2f} s after its host vanished")
    assert res.returncode == 0 and res.successful == 1, res.log[-2000:]
    assert released_s < HOST_GONE_LIMIT_S, f"caller released after {released_s:.1f} s"
    # (the proxy prints it once every call of that worker is ended, just after the BYE)
    end = time.monotonic() + 5
    while f"worker {address}:" not in cluster.proxy.process.output() and time.monotonic() < end:
        time.sleep(0.1)
    assert f"worker {address}:" in cluster.proxy.process.output()
    done = sipp_wait(during, 40)
    assert done.returncode == 0 and done.successful == 1, done.log[-2000:]
    ((other, _, _),) = answers(tmp_path / f"{during.tag}.msg", 1)
    assert other != address
