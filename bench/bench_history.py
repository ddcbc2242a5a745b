"""History of one long tab: database size, kernel memory and time per turn over 1,000 turns.

Run: ``.venv/bin/python bench/bench_history.py [--turns 1000] [--rounds 3] [--json PATH]``
(about 30-60 s; no extra needed).

One tab of ``ipyllm.manager()`` sends ``--turns`` prompts in a row with ``tab.send`` to the
loopback :class:`~ipyllm.testing.FakeLLMServer` (a thread of the same process), each
waited for before the next, every turn saved to a history database in a throwaway
``IPYLLM_HOME``. A prompt is ~60 characters and an answer ~190 (0.25 MB of text for
1,000 turns). Every answer must come back exact, and every request must carry exactly
the history the tab should send (all earlier turns, or the last ``max_history``), or
the bench stops. The server's own record of requests is cleared after every turn, so
that its copies of the growing requests do not count as the tab's memory.

Each configuration runs ``--rounds`` times, each run in a fresh child process (a clean
RSS), the configurations interleaved (round-robin, the first alternating):

* ``all history``: the default, every earlier turn goes with each prompt;
* ``max_history=N`` (``--max-history``, default 20): the last N turns only; skipped
  when the ipyllm under test has no ``max_history``.

Figures, per configuration:

* **database size / text stored**: the database file after the store is closed (its WAL
  checkpointed into it), against the UTF-8 bytes of every prompt and answer; and the
  same less a fixed overhead (the file of a store holding one short turn). Target:
  at most 3x plus that overhead.
* **RSS growth** (the largest of the rounds): the child's ``VmRSS``
  (``/proc/self/status``; ``ru_maxrss`` where there is no ``/proc``) after the last turn
  (history flushed, ``gc.collect()``) minus before the first, a warm-up tab having run
  first; and the high-water mark.
* **time per turn**: ``send`` to settled, median of turns 1-20 ("turn 10") against the
  median of the last 20 ("turn 1,000"), each the best of the rounds. Target: flat within
  noise. With all history sent
  the request itself grows with the conversation (it is the whole conversation), so the
  bounded configuration is the one that can be flat.
* **restore**: ``restore()`` of the conversation by a new manager on the same file; its
  time (best of the rounds), and that the rebuilt ``full_query`` of the last turn equals
  what was sent.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchjson import write_results
from procstatus import status_kb

# src/ on the path so the bench runs whether or not ipyllm is installed in the venv.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

API_KEY = "sk-bench-0123456789abcdef"
MODEL = "openai:bench"
ANSWER = [f"answer {i:02d}, " for i in range(19)]  # ~190 characters in 19 pieces
WINDOW = 20  # turns in each per-turn-time median
TARGET_RATIO = 3.0


def prompt(i: int) -> str:
    return f"Question {i:04d}: what is the next step of the plan, in one line?"  # ~60 chars


def rss_kb(field: str = "VmRSS") -> int:
    """This process's resident set (or its high-water mark) in KiB."""
    kb = status_kb(field)
    return kb if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def file_bytes(db: Path) -> int:
    """The database and any WAL / shared-memory / journal file beside it."""
    names = [db.name + s for s in ("", "-wal", "-shm", "-journal")]
    return sum((db.parent / n).stat().st_size for n in names if (db.parent / n).exists())


def fixed_overhead(home: Path) -> int:
    """Bytes of a closed store that holds one short turn: schema, pages, headers."""
    import ipyllm
    from ipyllm._manager.history import HistoryStore
    from ipyllm._manager.manager import SessionManager
    from ipyllm.testing import FakeLLMServer, Reply

    path = home / "overhead" / "history.sqlite3"
    store = HistoryStore(path)
    mgr = SessionManager(history=store)
    with FakeLLMServer(default_reply=Reply("ok"), idle_timeout=None) as server:
        tab = mgr.new_tab("overhead", MODEL)
        tab.send("hi", api_key=API_KEY, base_url=server.base_url(), max_retries=0).result(30)
    assert store.flush(30)
    store.close()
    del ipyllm
    return file_bytes(path)


def child(turns: int, max_history: int | None) -> dict[str, Any]:
    """One configuration, in this (fresh) process."""
    home = Path(os.environ["IPYLLM_HOME"])
    import ipyllm
    from ipyllm._manager.history import HistoryStore
    from ipyllm._manager.manager import SessionManager
    from ipyllm.testing import FakeLLMServer, Reply

    overhead = fixed_overhead(home)
    answer = "".join(ANSWER)
    server = FakeLLMServer(default_reply=Reply(list(ANSWER)), idle_timeout=None)
    url = server.base_url("openai")
    extra = {} if max_history is None else {"max_history": max_history}
    mgr = ipyllm.manager()
    store = mgr.history
    db = store.path
    assert db is not None
    assert db.parent == home, db

    warm = mgr.new_tab("warm-up", MODEL)
    for i in range(3):
        warm.send(prompt(i), api_key=API_KEY, base_url=url, max_retries=0, **extra).result(30)
    warm.close()
    assert store.flush(30)
    server.reset()
    gc.collect()
    rss_before = rss_kb()

    tab = mgr.new_tab("bench", MODEL)
    times: list[float] = []
    text_bytes = 0
    kept = 0  # earlier turns the tab should send with the next prompt
    for i in range(turns):
        q = prompt(i)
        t0 = time.perf_counter()
        response = tab.send(q, api_key=API_KEY, base_url=url, max_retries=0, **extra).result(30)
        times.append(time.perf_counter() - t0)
        assert response.text == answer, (i, response.text)
        sent = server.requests[-1].json["messages"]
        want = i if max_history is None else min(i, max_history)
        assert len(sent) == 2 * want + 1, (i, len(sent), want)
        assert sent[-1] == {"role": "user", "content": q}, sent[-1]
        server.reset()  # the server's copies of the requests are not the tab's memory
        text_bytes += len(q.encode()) + len(answer.encode())
        kept = want
    assert store.flush(120), "history did not catch up in 120 s"
    gc.collect()
    rss_after = rss_kb()
    rss_peak = rss_kb("VmHWM")
    last_sent = tab.full_query
    assert last_sent is not None
    assert len(last_sent) == 2 * kept + 1
    store.close()
    server.close()
    db_bytes = file_bytes(db)

    later = SessionManager(history=HistoryStore(db))
    t0 = time.perf_counter()
    restored = later.restore(tab.conversation_id)
    restore_s = time.perf_counter() - t0
    assert len(restored.turns) == turns
    assert restored.full_query == last_sent, "restore() rebuilt other messages than were sent"
    assert [t.text for t in restored.turns] == [answer] * turns
    later.history.close()

    early = statistics.median(times[:WINDOW])
    late = statistics.median(times[-WINDOW:])
    return {
        "turns": turns,
        "max_history": max_history,
        "text_bytes": text_bytes,
        "db_bytes": db_bytes,
        "overhead_bytes": overhead,
        "db_ratio": db_bytes / text_bytes,
        "db_ratio_less_overhead": (db_bytes - overhead) / text_bytes,
        "rss_before_mb": rss_before / 1024,
        "rss_after_mb": rss_after / 1024,
        "rss_growth_mb": (rss_after - rss_before) / 1024,
        "rss_peak_mb": rss_peak / 1024,
        "turn_ms_first": early * 1e3,
        "turn_ms_last": late * 1e3,
        "turn_ratio_last_to_first": late / early,
        "turn_ms_all": [round(t * 1e3, 3) for t in times],
        "last_request_messages": 2 * kept + 1,
        "restore_s": restore_s,
    }


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row per configuration: sizes of the first run (every run stores the same), the
    largest RSS growth, and the best (lowest) time of each window and of restore()."""
    best = dict(runs[0])
    best["rss_growth_mb"] = max(r["rss_growth_mb"] for r in runs)
    best["rss_peak_mb"] = max(r["rss_peak_mb"] for r in runs)
    for key in ("turn_ms_first", "turn_ms_last", "restore_s"):
        best[key] = min(r[key] for r in runs)
    best["turn_ratio_last_to_first"] = best["turn_ms_last"] / best["turn_ms_first"]
    best["rounds"] = [
        {k: round(v, 4) for k, v in r.items() if k in ("rss_growth_mb", "turn_ms_first",
                                                        "turn_ms_last", "restore_s")}
        for r in runs
    ]  # fmt: skip
    return best


def supports_max_history(python: str, env: dict[str, str]) -> bool:
    code = (
        "import inspect, ipyllm\n"
        "from ipyllm._manager.runner import TurnPlan\n"
        "print('max_history' in inspect.signature(TurnPlan).parameters)"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env)
    return out.stdout.strip() == "True"


def run_child(turns: int, max_history: int | None) -> dict[str, Any]:
    home = tempfile.mkdtemp(prefix="ipyllm-bench-history-")
    env = {**os.environ, "IPYLLM_HOME": home}
    env.pop("IPYLLM_HISTORY", None)
    argv = [sys.executable, __file__, "--turns", str(turns), "--child", str(max_history or "all")]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"the child for max_history={max_history} failed")
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=1000, help="turns in the tab, def. 1000")
    parser.add_argument(
        "--max-history", type=int, default=20, help="turns sent in the bounded run, def. 20"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (best of), def. 3")
    parser.add_argument("--child", metavar="N|all", help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    if args.child:
        result = child(args.turns, None if args.child == "all" else int(args.child))
        print("RESULT " + json.dumps(result))
        return 0

    import ipyllm

    versions = {"ipyllm": version("ipyllm"), "sqlite": __import__("sqlite3").sqlite_version}
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"SQLite {versions['sqlite']}; ipyllm from {Path(ipyllm.__file__).parent}"
    )
    started = time.perf_counter()
    configs: list[tuple[str, int | None]] = [("all history", None)]
    if supports_max_history(sys.executable, dict(os.environ)):
        configs.append((f"max_history={args.max_history}", args.max_history))
    else:
        print(f"(no max_history in this ipyllm: the max_history={args.max_history} run is skipped)")
    rounds: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in configs}
    for r in range(args.rounds):  # interleaved, the first configuration alternating
        for label, mh in configs if r % 2 == 0 else configs[::-1]:
            rounds[label].append(run_child(args.turns, mh))
    results = {label: best_of(runs) for label, runs in rounds.items()}

    n = args.turns
    print(f"\n{n:,} turns in one tab, loopback server, history on; best of {args.rounds}")
    header = ("", *results)
    rows = [
        ("text stored", lambda r: f"{r['text_bytes'] / 1e6:.3f} MB"),
        ("database file", lambda r: f"{r['db_bytes'] / 1e6:.3f} MB"),
        ("database / text", lambda r: f"{r['db_ratio']:.2f}x"),
        (
            "  less fixed overhead",
            lambda r: f"{r['db_ratio_less_overhead']:.2f}x (+{r['overhead_bytes'] / 1e3:.0f} kB)",
        ),
        (
            "RSS before -> after",
            lambda r: f"{r['rss_before_mb']:.1f} -> {r['rss_after_mb']:.1f} MB",
        ),
        ("RSS growth (largest)", lambda r: f"{r['rss_growth_mb']:.1f} MB"),
        ("RSS high-water mark", lambda r: f"{r['rss_peak_mb']:.1f} MB"),
        (f"ms/turn, turns 1-{WINDOW}", lambda r: f"{r['turn_ms_first']:.2f}"),
        (f"ms/turn, last {WINDOW}", lambda r: f"{r['turn_ms_last']:.2f}"),
        ("  last / first", lambda r: f"{r['turn_ratio_last_to_first']:.2f}x"),
        ("messages in the last request", lambda r: f"{r['last_request_messages']:,}"),
        ("restore()", lambda r: f"{r['restore_s'] * 1e3:.0f} ms"),
    ]
    widths = [30] + [max(24, len(h)) for h in header[1:]]
    print(
        "".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    for label, fmt in rows:
        cells = [fmt(r) for r in results.values()]
        print(
            label.ljust(widths[0])
            + "".join(c.rjust(w) for c, w in zip(cells, widths[1:], strict=True))
        )
    for label, r in results.items():
        ratio = r["db_ratio_less_overhead"]
        print(
            f"  {'PASS' if ratio <= TARGET_RATIO else 'MISS'}  {label}: database {ratio:.2f}x "
            f"the text plus {r['overhead_bytes'] / 1e3:.0f} kB "
            f"(target <= {TARGET_RATIO:g}x + overhead)"
        )
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed:.0f} s")
    if args.json:
        figures = {
            "versions": versions,
            "args": {k: v for k, v in vars(args).items() if k != "child"},
            "elapsed_s": round(elapsed, 1),
            "runs": {
                label: {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                for label, r in results.items()
            },
        }
        write_results(args.json, "bench_history", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
