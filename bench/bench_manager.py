"""Session manager under load: many tabs streaming at once, and a kernel's latency meanwhile.

Run: ``.venv/bin/python bench/bench_manager.py [--tabs 50] [--chunks 2000] [--json PATH]``
(30-60 s; no extra needed).

Part 1, in this process: ``--tabs`` tabs of one manager (``ipyllm.manager()``) each start a
``--chunks``-chunk answer with ``tab.send`` at once, from the loopback
:class:`~ipyllm.testing.FakeLLMServer` (a thread of this process, one handler thread per
connection, pieces ``" t{k}w{i}"``, no pacing). Every tab must end ``done`` with exactly
one of the scripted texts (the replies go to the concurrent requests in arrival order, so
the texts are compared as a multiset), or the bench stops. A single tab streaming one such
answer the same way is measured in the same rounds (warm-up once each, then round-robin,
alternating which goes first); chunks/s = chunks / wall time from the first ``send`` to
the last tab settled; best of ``--rounds``. Peak RSS growth: ``VmHWM`` after the run minus
``VmRSS`` before it, the high-water mark reset (``/proc/self/clear_refs``) first; the
warm-up run shows the cold figure, later runs reuse memory the earlier ones freed.

Part 2, a real kernel (``jupyter_client``, the ``python3`` kernelspec): the round trip of a
trivial cell, ``1+1`` (``execute`` sent -> ``execute_reply`` received), ``--samples`` times
with the kernel idle, then ``--samples`` times while ``--tabs`` tabs x ``--chunks`` chunks
stream *inside the kernel* (paced at ``--delay`` seconds a piece by the server, so they
stream for a few seconds), from the fake server in this process. A cell in the kernel then
checks every tab holds exactly one of the scripted texts. Targets from the issue: an
added latency (streaming minus idle) of at most 25 ms at the median and 100 ms at the
90th percentile, in each of ``--kernel-runs`` runs (a fresh kernel each). Columns:
``to kernel`` = the request's header date to the reply's ``started`` metadata (this
side's send, transport, the kernel's shell-channel thread and the wait for its main
thread); ``in cell`` = ``started`` to the reply's header
date; the rest is the way back and this process's own wake-up.

The fake server shares this process (and its GIL) with the client that measures the round
trips. ``--server-process`` moves it to a child process, a control that shows how much of
the added latency is on this side. ``--kernel-switch-interval S`` calls
``sys.setswitchinterval(S)`` in the kernel first (an experiment, not something ipyllm does).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchjson import write_results
from procstatus import status_kb

# src/ on the path so the bench runs whether or not ipyllm is installed in the venv.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import ipyllm
from ipyllm.testing import FakeLLMServer, Reply

API_KEY = "sk-bench-0123456789abcdef"
MODEL = "openai:bench"
# The targets for the latency a kernel's cell gains while 50 tabs stream in it:
# the median and the 90th percentile of the round trips, minus the idle ones, every run.
TARGET_ADDED_MEDIAN_MS = 25.0
TARGET_ADDED_P90_MS = 100.0


def pieces(k: int, n: int) -> list[str]:
    return [f" t{k}w{i}" for i in range(n)]


class LocalServer:
    """The fake server as a thread of this process."""

    where = "this process"

    def __init__(self) -> None:
        self.server = FakeLLMServer(idle_timeout=None)
        self.url = self.server.base_url("openai")

    def add_replies(self, tabs: int, chunks: int, delay: float) -> None:
        for k in range(tabs):
            self.server.add_reply(Reply(pieces(k, chunks), delay_s=delay))

    def pending(self) -> int:
        return self.server.pending_replies

    def close(self) -> None:
        self.server.close()


def _child_server(conn: Any) -> None:
    """Body of the ``--server-process`` child: a fake server driven over a pipe."""
    local = LocalServer()
    conn.send(local.url)
    try:
        while True:
            command, *params = conn.recv()
            if command == "add":
                local.add_replies(*params)
                conn.send(None)
            elif command == "pending":
                conn.send(local.pending())
            else:
                return
    finally:
        local.close()


class ChildServer:
    """The fake server in a child process (a control for part 2)."""

    where = "a child process"

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_child_server, args=(child,), daemon=True)
        self.process.start()
        self.url = self.conn.recv()

    def add_replies(self, tabs: int, chunks: int, delay: float) -> None:
        self.conn.send(("add", tabs, chunks, delay))
        self.conn.recv()

    def pending(self) -> int:
        self.conn.send(("pending",))
        return int(self.conn.recv())

    def close(self) -> None:
        self.conn.send(("stop",))
        self.process.join(10)


# ---- memory --------------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---- part 1: many tabs in this process -----------------------------------------------------


def stream_tabs(server: LocalServer, n_tabs: int, n_chunks: int) -> dict[str, Any]:
    """Start ``n_tabs`` answers at once with ``tab.send``; check them; time and memory."""
    expected = Counter("".join(pieces(k, n_chunks)) for k in range(n_tabs))
    server.add_replies(n_tabs, n_chunks, 0.0)
    mgr = ipyllm.manager()
    tabs = [mgr.new_tab(f"bench {k}", model=MODEL) for k in range(n_tabs)]
    rss_before = status_kb("VmRSS")
    peak_ok = reset_peak_rss()
    t0 = time.perf_counter()
    handles = [t.send("go", api_key=API_KEY, base_url=server.url, max_retries=0) for t in tabs]
    for h in handles:
        assert h.wait(120), f"{h.tab.title} did not finish in 120 s"
    elapsed = time.perf_counter() - t0
    peak = status_kb("VmHWM") if peak_ok else None
    statuses = Counter(t.status for t in tabs)
    assert statuses == {"done": n_tabs}, (statuses, Counter(t.error for t in tabs))
    assert Counter(t.text for t in tabs) == expected, "texts differ from the scripted ones"
    assert server.pending() == 0, "not every reply was consumed"
    start = min(t.last.started_at for t in tabs if t.last)
    ends = sorted(t.last.started_at + (t.last.elapsed_s or 0.0) for t in tabs if t.last)
    for t in tabs:
        t.close()
    return {
        "elapsed_s": elapsed,
        "chunks_per_s": n_tabs * n_chunks / elapsed,
        "first_done_s": ends[0] - start,
        "last_done_s": ends[-1] - start,
        "rss_growth_mb": None if peak is None or rss_before is None else (peak - rss_before) / 1024,
    }


def part_one(server: LocalServer, args: argparse.Namespace) -> dict[str, Any]:
    n, k = args.chunks, args.tabs
    print(f"\nPart 1: {k} tabs x {n:,} chunks at once vs 1 tab x {n:,}; one manager, this process")
    runs: dict[str, list[dict[str, Any]]] = {"single": [], "multi": []}
    single = functools.partial(stream_tabs, server, 1, n)
    multi = functools.partial(stream_tabs, server, k, n)
    single()  # warm-up: imports, the worker loop, a connection
    cold = multi()
    for r in range(args.rounds):
        order = [("single", single), ("multi", multi)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            runs[name].append(fn())
    best = {name: max(rs, key=lambda x: x["chunks_per_s"]) for name, rs in runs.items()}
    ratio = best["multi"]["chunks_per_s"] / best["single"]["chunks_per_s"]
    header = ("run", "best chunks/s", "median chunks/s", "best s", "peak RSS +MB")
    print("{:<20} {:>14} {:>16} {:>8} {:>13}".format(*header))
    for name, label in (("single", f"1 tab x {n:,}"), ("multi", f"{k} tabs x {n:,}")):
        rs, b = runs[name], best[name]
        median = statistics.median(x["chunks_per_s"] for x in rs)
        rss = max((x["rss_growth_mb"] or 0.0) for x in rs)
        print(
            f"{label:<20} {b['chunks_per_s']:>14,.0f} {median:>16,.0f} "
            f"{b['elapsed_s']:>8.2f} {rss:>13.1f}"
        )
    m = best["multi"]
    print(f"  {k} tabs / 1 tab, chunks/s: {ratio:.2f}x; all {k} texts exact in every run")
    print(f"  peak RSS growth of the first (cold) {k}-tab run: {cold['rss_growth_mb'] or 0:.1f} MB")
    print(
        f"  best {k}-tab run: first tab done at {m['first_done_s']:.2f} s, "
        f"last at {m['last_done_s']:.2f} s"
    )
    return {
        "tabs": k,
        "chunks": n,
        "cold_run": {key: _round(v) for key, v in cold.items()},
        "runs": {
            name: [{key: _round(v) for key, v in x.items()} for x in rs]
            for name, rs in runs.items()
        },
        "best_single_chunks_per_s": round(best["single"]["chunks_per_s"]),
        "best_multi_chunks_per_s": round(m["chunks_per_s"]),
        "ratio_multi_to_single": round(ratio, 3),
        "cold_rss_growth_mb": _round(cold["rss_growth_mb"]),
        "warm_rss_growth_mb_max": _round(max((x["rss_growth_mb"] or 0.0) for x in runs["multi"])),
    }


def _round(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


# ---- part 2: a kernel's latency while its tabs stream --------------------------------------


def execute(kc: Any, code: str, timeout: float = 120.0) -> dict[str, Any]:
    """Run a setup cell; fail on an error; return the JSON of its ``RESULT`` line."""
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    text = "".join(out)
    assert reply["content"]["status"] == "ok", text
    lines = [x for x in text.splitlines() if x.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT ") :]) if lines else {}


def _date(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def round_trip(kc: Any) -> dict[str, float]:
    """Execute ``1+1`` and wait for its ``execute_reply``; times in ms."""
    sent_at = time.time()
    t0 = time.perf_counter()
    msg_id = kc.execute("1+1")
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    rtt = (time.perf_counter() - t0) * 1e3
    assert reply["content"]["status"] == "ok", reply["content"]
    started = _date(reply["metadata"]["started"])
    return {
        "at": sent_at,
        "rtt_ms": rtt,
        "to_kernel_ms": (started - _date(reply["parent_header"]["date"])).total_seconds() * 1e3,
        "in_cell_ms": (_date(reply["header"]["date"]) - started).total_seconds() * 1e3,
    }


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def sample_with_cpu(kc: Any, n: int, gap: float, pid: int | None) -> tuple[list[Any], float | None]:
    """:func:`sample`, plus the kernel's CPU use meanwhile in % of one core."""
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    rows = sample(kc, n, gap)
    cpu1, t1 = cpu_seconds(pid), time.perf_counter()
    cpu = None if cpu0 is None or cpu1 is None else 100 * (cpu1 - cpu0) / (t1 - t0)
    return rows, cpu


def sample(kc: Any, n: int, gap: float) -> list[dict[str, float]]:
    out = []
    for _ in range(n):
        out.append(round_trip(kc))
        while True:  # drop iopub traffic (busy, execute_input, execute_result, idle)
            try:
                kc.get_iopub_msg(timeout=0)
            except Exception:  # queue.Empty
                break
        time.sleep(gap)
    return out


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q / 100) - 1)]


KERNEL_SETUP = """
import json, sys, time
from collections import Counter
import ipyllm
if {switch!r} is not None:
    sys.setswitchinterval({switch!r})
URL, KEY, MODEL = {url!r}, {key!r}, {model!r}
m = ipyllm.manager()
warm = m.new_tab("warm-up", model=MODEL)
warm.send("hi", api_key=KEY, base_url=URL, max_retries=0).result(30)
print("RESULT", json.dumps({{"warm": warm.status, "switch": sys.getswitchinterval()}}))
"""

KERNEL_START = """
tabs = [m.new_tab(f"load {{k}}", model=MODEL) for k in range({tabs})]
handles = [t.send("go", api_key=KEY, base_url=URL, max_retries=0) for t in tabs]
"""

KERNEL_CHECK = """
ok = [h.wait(120) for h in handles]
expected = Counter("".join(f" t{{k}}w{{i}}" for i in range({chunks})) for k in range({tabs}))
starts = [t.last.started_at for t in tabs]
ends = [t.last.started_at + (t.last.elapsed_s or 0.0) for t in tabs]
print("RESULT", json.dumps({{
    "settled": all(ok),
    "status": dict(Counter(t.status for t in tabs)),
    "errors": sorted({{t.error for t in tabs if t.error}}),
    "exact": Counter(t.text for t in tabs) == expected,
    "first_start": min(starts), "first_end": min(ends), "last_end": max(ends),
}}))
for t in tabs:
    t.close()
"""


def part_two(server: LocalServer | ChildServer, args: argparse.Namespace) -> dict[str, Any]:
    from jupyter_client.manager import start_new_kernel

    k, n, samples = args.tabs, args.chunks, args.samples
    print(
        f"\nPart 2: a real kernel; `1+1` round trips, {samples} idle, then {samples} while "
        f"{k} tabs x {n:,} chunks stream inside it; server in {server.where}, "
        f"pacing {args.delay * 1e3:g} ms/piece"
    )
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60, env=dict(os.environ))
    try:
        server.add_replies(1, 1, 0.0)
        setup = KERNEL_SETUP.format(
            switch=args.kernel_switch_interval, url=server.url, key=API_KEY, model=MODEL
        )
        switch = execute(kc, setup)["switch"]
        pid = getattr(getattr(km.provisioner, "process", None), "pid", None)
        sample(kc, 5, args.gap)  # warm-up
        idle, idle_cpu = sample_with_cpu(kc, samples, args.gap, pid)
        server.add_replies(k, n, args.delay)
        execute(kc, KERNEL_START.format(tabs=k))
        busy, busy_cpu = sample_with_cpu(kc, samples, args.gap, pid)
        check = execute(kc, KERNEL_CHECK.format(tabs=k, chunks=n))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    assert check["settled"], check
    assert check["status"] == {"done": k}, check
    assert check["exact"], "texts in the kernel differ from the scripted ones"
    assert server.pending() == 0, "not every reply was consumed"

    all_streaming = sum(check["first_start"] <= s["at"] <= check["first_end"] for s in busy)
    any_streaming = sum(s["at"] <= check["last_end"] for s in busy)
    window = check["last_end"] - check["first_start"]
    header = ("kernel", "median ms", "p90 ms", "max ms", "to kernel", "in cell", "kernel CPU")
    print("{:<20} {:>10} {:>8} {:>8} {:>10} {:>8} {:>11}".format(*header))
    table = {}
    phases = (
        ("idle", "idle", idle, idle_cpu),
        ("streaming", f"{k} tabs streaming", busy, busy_cpu),
    )
    for key, label, rows, cpu in phases:
        rtts = [r["rtt_ms"] for r in rows]
        row = {
            "median_ms": statistics.median(rtts),
            "p90_ms": pct(rtts, 90),
            "max_ms": max(rtts),
            "median_to_kernel_ms": statistics.median(r["to_kernel_ms"] for r in rows),
            "median_in_cell_ms": statistics.median(r["in_cell_ms"] for r in rows),
            "kernel_cpu_pct": cpu,
        }
        print(
            f"{label:<20} {row['median_ms']:>10.1f} {row['p90_ms']:>8.1f} {row['max_ms']:>8.1f} "
            f"{row['median_to_kernel_ms']:>10.1f} {row['median_in_cell_ms']:>8.1f} "
            f"{'n/a' if cpu is None else f'{cpu:.0f} %':>11}"
        )
        table[key] = {
            **{x: None if v is None else round(v, 2) for x, v in row.items()},
            "rtt_ms": [round(v, 2) for v in rtts],
        }
    added = table["streaming"]["median_ms"] - table["idle"]["median_ms"]
    added_p90 = table["streaming"]["p90_ms"] - table["idle"]["p90_ms"]
    ok = added <= TARGET_ADDED_MEDIAN_MS and added_p90 <= TARGET_ADDED_P90_MS
    print(
        f"  {'PASS' if ok else 'MISS'}  added latency: median {added:.1f} ms "
        f"(target <= {TARGET_ADDED_MEDIAN_MS:g}), p90 {added_p90:.1f} ms "
        f"(target <= {TARGET_ADDED_P90_MS:g})"
    )
    print(
        f"  the streams ran {window:.2f} s in the kernel ({k * n / window:,.0f} chunks/s); "
        f"{all_streaming}/{samples} samples while all {k} streamed, "
        f"{any_streaming}/{samples} while any did; all {k} texts exact; "
        f"kernel switch interval {switch * 1e3:g} ms"
    )
    return {
        **table,
        "added_median_ms": round(added, 2),
        "added_p90_ms": round(added_p90, 2),
        "target_median_ms": TARGET_ADDED_MEDIAN_MS,
        "target_p90_ms": TARGET_ADDED_P90_MS,
        "pass": ok,
        "server": server.where,
        "kernel_switch_interval_s": switch,
        "stream_window_s": round(window, 3),
        "kernel_chunks_per_s": round(k * n / window),
        "samples_while_all_streamed": all_streaming,
        "samples_while_any_streamed": any_streaming,
        "texts_exact": check["exact"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tabs", type=int, default=50, help="tabs streaming at once, def. 50")
    parser.add_argument("--chunks", type=int, default=2000, help="chunks per answer, def. 2000")
    parser.add_argument("--rounds", type=int, default=5, help="part 1 rounds (best-of), def. 5")
    parser.add_argument("--samples", type=int, default=30, help="part 2 round trips, def. 30")
    parser.add_argument(
        "--kernel-runs", type=int, default=3, help="part 2 runs, each a fresh kernel, def. 3"
    )
    parser.add_argument(
        "--delay", type=float, default=0.001, help="part 2 server pacing, s/piece, def. 0.001"
    )
    parser.add_argument(
        "--gap", type=float, default=0.02, help="part 2 pause between round trips, def. 0.02 s"
    )
    parser.add_argument("--no-kernel", action="store_true", help="skip part 2")
    parser.add_argument("--kernel-only", action="store_true", help="skip part 1")
    parser.add_argument(
        "--server-process", action="store_true", help="part 2: fake server in a child process"
    )
    parser.add_argument(
        "--kernel-switch-interval",
        type=float,
        metavar="S",
        help="part 2: sys.setswitchinterval(S) in the kernel first (experiment)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    versions = {p: version(p) for p in ("httpx", "ipykernel", "jupyter_client", "ipyllm")}
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        + ", ".join(f"{p} {v}" for p, v in versions.items())
    )
    # History (this process's and the kernel's) goes to a throwaway directory.
    home = tempfile.mkdtemp(prefix="ipyllm-bench-home-")
    os.environ["IPYLLM_HOME"] = home
    started = time.perf_counter()
    results: dict[str, Any] = {}
    try:
        if not args.kernel_only:
            local = LocalServer()
            try:
                results["many_tabs"] = part_one(local, args)
            finally:
                local.close()
        if not args.no_kernel:
            runs = []
            for _ in range(args.kernel_runs):
                server = ChildServer() if args.server_process else LocalServer()
                try:
                    runs.append(part_two(server, args))
                finally:
                    server.close()
            results["kernel_latency"] = runs
            passed = sum(r["pass"] for r in runs)
            worst = max(r["added_median_ms"] for r in runs), max(r["added_p90_ms"] for r in runs)
            print(
                f"\n{'PASS' if passed == len(runs) else 'MISS'}  {passed}/{len(runs)} kernel runs "
                f"within both targets; worst added median {worst[0]:.1f} ms, p90 {worst[1]:.1f} ms"
            )
        ipyllm.manager().history.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed:.0f} s")
    if args.json:
        figures = {
            "versions": versions,
            "args": vars(args),
            "elapsed_s": round(elapsed, 1),
            **results,
        }
        write_results(args.json, "bench_manager", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
