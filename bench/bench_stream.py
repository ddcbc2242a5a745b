"""Streaming throughput: ipyllm ``Session`` against the official SDKs and a raw httpx loop.

Run: ``.venv/bin/python bench/bench_stream.py [--rounds 5] [--chunks 20000] [--json PATH]``
(needs the ``bench`` extra: openai, anthropic).

Every contender streams the same N-chunk answer (pieces ``" w0"``, ``" w1"``, …) from the
loopback :class:`~ipyllm.testing.FakeLLMServer` (127.0.0.1, in this process), in the
OpenAI ``/chat/completions`` and the Anthropic ``/v1/messages`` wire formats, and must
hand back exactly N text deltas that join to the full text, or the bench stops. One
``Reply`` is queued per run. Each contender is warmed up once, then the contenders run
round-robin (the starting contender rotates every round) and each keeps its best round, so
background load on a shared machine hits them all alike. Chunks/s = N / wall time from the
request to the last delta. Each contender keeps one client (one pooled connection) for all
its runs, as a real program would.

The "bytes only" row reads the body with ``iter_raw`` and decodes nothing: the cost of the
fake server (which shares this process, and so the GIL) plus the HTTP transfer, a ceiling
no decoding contender can pass.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai

from benchjson import write_results

# src/ on the path so the bench runs whether or not ipyllm is installed in the venv.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import ipyllm
from ipyllm.testing import FakeLLMServer, Reply

API_KEY = "sk-bench-0123456789abcdef"
MODEL = "bench"
PROMPT = "hi"

# Targets from the issue, per wire format: Session.stream against the SDK and the raw loop.
TARGET_VS_SDK = 10.0
TARGET_VS_RAW = 0.5

SESSION = "ipyllm Session.stream"
ASESSION = "ipyllm Session.astream"
RAW = "raw httpx+json loop"
FLOOR = "bytes only (floor)"


@dataclass
class Contender:
    """One way of streaming the answer; ``run`` returns the text deltas it received."""

    name: str
    run: Callable[[], list[str]]
    checked: bool = True
    """False only for the floor row, which decodes nothing and so has no deltas to check."""
    times: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.times)


# ---- contenders -------------------------------------------------------------------------


def ipyllm_stream(session: Any) -> Callable[[], list[str]]:
    def run() -> list[str]:
        session.clear()  # same one-turn request every run, not a growing history
        return list(session.stream(PROMPT))

    return run


def ipyllm_astream(session: Any, runner: asyncio.Runner) -> Callable[[], list[str]]:
    async def consume() -> list[str]:
        return [piece async for piece in session.astream(PROMPT)]

    def run() -> list[str]:
        session.clear()
        return runner.run(consume())

    return run


def openai_sdk(client: openai.OpenAI) -> Callable[[], list[str]]:
    def run() -> list[str]:
        out = []
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        for chunk in stream:
            if chunk.choices:
                content = chunk.choices[0].delta.content
                if content:
                    out.append(content)
        return out

    return run


def anthropic_sdk_create(client: anthropic.Anthropic) -> Callable[[], list[str]]:
    def run() -> list[str]:
        out = []
        stream = client.messages.create(
            model=MODEL,
            max_tokens=1024,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
        )
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                out.append(event.delta.text)
        return out

    return run


def anthropic_sdk_stream(client: anthropic.Anthropic) -> Callable[[], list[str]]:
    def run() -> list[str]:
        with client.messages.stream(
            model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": PROMPT}]
        ) as stream:
            return list(stream.text_stream)

    return run


def raw_openai(client: httpx.Client, url: str) -> Callable[[], list[str]]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    headers = {"Authorization": f"Bearer {API_KEY}"}

    def run() -> list[str]:
        out = []
        with client.stream("POST", url, json=body, headers=headers) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                choices = json.loads(data)["choices"]
                if choices:
                    content = choices[0]["delta"].get("content")
                    if content:
                        out.append(content)
        return out

    return run


def raw_anthropic(client: httpx.Client, url: str) -> Callable[[], list[str]]:
    body = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
    }
    headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}

    def run() -> list[str]:
        out = []
        with client.stream("POST", url, json=body, headers=headers) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue  # event: lines and blanks; the data carries the type too
                obj = json.loads(line[6:])
                kind = obj["type"]
                if kind == "content_block_delta":
                    delta = obj["delta"]
                    if delta["type"] == "text_delta" and delta["text"]:
                        out.append(delta["text"])
                elif kind == "message_stop":
                    break
        return out

    return run


def bytes_only(client: httpx.Client, url: str, body: Any, n: int) -> Callable[[], list[str]]:
    """Read the body and drop it: no decoding, no deltas (only its size is checked)."""

    def run() -> list[str]:
        size = 0
        with client.stream("POST", url, json=body) as response:
            response.raise_for_status()
            for raw in response.iter_raw():
                size += len(raw)
        assert size > n * 10, f"{FLOOR}: a body of {size:,} bytes is too short"
        return []

    return run


# ---- measuring -------------------------------------------------------------------------


def timed_run(server: FakeLLMServer, c: Contender, pieces: list[str], expected: str) -> float:
    server.add_reply(Reply(pieces))
    gc.collect()  # garbage left by the previous contender is not this one's cost
    t0 = time.perf_counter()
    out = c.run()
    elapsed = time.perf_counter() - t0
    if c.checked:
        # A fast but wrong answer must not pass.
        assert len(out) == len(pieces), (c.name, len(out), len(pieces))
        assert "".join(out) == expected, (c.name, "text differs")
    assert server.pending_replies == 0, (c.name, "reply not consumed")
    return elapsed


def measure(
    server: FakeLLMServer, contenders: list[Contender], pieces: list[str], rounds: int
) -> None:
    expected = "".join(pieces)
    for c in contenders:  # warm-up: imports, connections, caches
        timed_run(server, c, pieces, expected)
    for r in range(rounds):
        k = r % len(contenders)
        for c in contenders[k:] + contenders[:k]:
            c.times.append(timed_run(server, c, pieces, expected))


def report(
    title: str, contenders: list[Contender], sdk_name: str, n: int
) -> tuple[dict[str, Any], list[tuple[str, float, float, bool]]]:
    by_name = {c.name: c for c in contenders}
    raw_best, sdk_best = by_name[RAW].best, by_name[sdk_name].best
    print(f"\n{title}  (ratios: time of the reference / time of the row; SDK = {sdk_name})")
    header = ("contender", "best chunks/s", "median chunks/s", "best ms", "x raw loop", "x SDK")
    print("{:<40} {:>14} {:>16} {:>9} {:>11} {:>8}".format(*header))
    rows = []
    for c in contenders:
        best_cps = n / c.best
        median_cps = n / statistics.median(c.times)
        vs_raw, vs_sdk = raw_best / c.best, sdk_best / c.best
        print(
            f"{c.name:<40} {best_cps:>14,.0f} {median_cps:>16,.0f} {c.best * 1e3:>9.1f} "
            f"{vs_raw:>10.2f}x {vs_sdk:>7.2f}x"
        )
        rows.append(
            {
                "contender": c.name,
                "best_chunks_per_s": round(best_cps),
                "median_chunks_per_s": round(median_cps),
                "best_ms": round(c.best * 1e3, 2),
                "ratio_to_raw": round(vs_raw, 3),
                "ratio_to_sdk": round(vs_sdk, 3),
                "times_s": [round(t, 5) for t in c.times],
            }
        )
    # Targets: Session.stream against every SDK path measured (the column's reference is the
    # SDK's lightest path, the strictest) and against the raw loop. Session.astream: info only.
    sdks = [c.name for c in contenders if " SDK " in c.name]
    targets = [(SESSION, sdk, TARGET_VS_SDK) for sdk in sdks] + [(SESSION, RAW, TARGET_VS_RAW)]
    if ASESSION in by_name:
        targets += [(ASESSION, sdk, TARGET_VS_SDK) for sdk in sdks]
        targets.append((ASESSION, RAW, TARGET_VS_RAW))
    results = []
    for who, ref, goal in targets:
        ratio = by_name[ref].best / by_name[who].best
        ok = ratio >= goal
        label = f"{who} >= {goal:g}x {ref}"
        if who == SESSION:
            print(f"  {'PASS' if ok else 'MISS'}  {label}: {ratio:.2f}x")
            results.append((label, ratio, goal, ok))
        else:
            print(f"  info  {label}: {ratio:.2f}x ({'met' if ok else 'not met'})")
    table = {
        "sdk_reference": sdk_name,
        "rows": rows,
        "targets": [
            {"target": label, "ratio": round(ratio, 3), "goal": goal, "pass": ok}
            for label, ratio, goal, ok in results
        ],
    }
    return table, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (best-of), def. 5")
    parser.add_argument("--chunks", type=int, default=20_000, help="chunks per answer")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--no-extra",
        action="store_true",
        help="skip the informative rows (astream, messages.stream(), bytes only)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    n = args.chunks
    pieces = [f" w{i}" for i in range(n)]
    versions = {p: version(p) for p in ("httpx", "openai", "anthropic", "ipyllm")}
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        + ", ".join(f"{p} {v}" for p, v in versions.items())
    )
    print(f"{n:,} chunks per answer, warm-up 1 + best of {args.rounds} rounds, round-robin")

    started = time.perf_counter()
    tables: dict[str, Any] = {}
    outcomes = []
    with (
        FakeLLMServer(idle_timeout=None) as server,
        httpx.Client() as raw_client,
        asyncio.Runner() as runner,
    ):
        oa_url, an_url = server.base_url("openai"), server.base_url("anthropic")
        oa_sdk = openai.OpenAI(base_url=oa_url, api_key=API_KEY, max_retries=0)
        an_sdk = anthropic.Anthropic(base_url=an_url, api_key=API_KEY, max_retries=0)

        def session(model: str, base_url: str) -> Any:
            return ipyllm.Session(model, api_key=API_KEY, base_url=base_url, max_retries=0)

        oa_body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
        formats = [
            (
                "OpenAI format (POST /v1/chat/completions)",
                "openai",
                "openai SDK create(stream=True)",
                [
                    Contender(SESSION, ipyllm_stream(session(f"openai:{MODEL}", oa_url))),
                    Contender("openai SDK create(stream=True)", openai_sdk(oa_sdk)),
                    Contender(RAW, raw_openai(raw_client, f"{oa_url}/chat/completions")),
                ],
                [
                    Contender(ASESSION, ipyllm_astream(session(f"openai:{MODEL}", oa_url), runner)),
                    Contender(
                        FLOOR,
                        bytes_only(
                            raw_client,
                            f"{oa_url}/chat/completions",
                            {**oa_body, "stream": True},
                            n,
                        ),
                        checked=False,
                    ),
                ],
            ),
            (
                "Anthropic format (POST /v1/messages)",
                "anthropic",
                "anthropic SDK create(stream=True)",
                [
                    Contender(SESSION, ipyllm_stream(session(f"anthropic:{MODEL}", an_url))),
                    Contender("anthropic SDK create(stream=True)", anthropic_sdk_create(an_sdk)),
                    Contender(RAW, raw_anthropic(raw_client, f"{an_url}/v1/messages")),
                ],
                [
                    Contender(
                        ASESSION, ipyllm_astream(session(f"anthropic:{MODEL}", an_url), runner)
                    ),
                    Contender("anthropic SDK messages.stream()", anthropic_sdk_stream(an_sdk)),
                    Contender(
                        FLOOR,
                        bytes_only(
                            raw_client,
                            f"{an_url}/v1/messages",
                            {**oa_body, "max_tokens": 1024, "stream": True},
                            n,
                        ),
                        checked=False,
                    ),
                ],
            ),
        ]
        for title, key, sdk_name, core, extra in formats:
            contenders = core if args.no_extra else core + extra
            measure(server, contenders, pieces, args.rounds)
            table, results = report(title, contenders, sdk_name, n)
            tables[key] = table
            outcomes += results
        oa_sdk.close()
        an_sdk.close()
    elapsed = time.perf_counter() - started
    print(f"\n{sum(ok for *_, ok in outcomes)}/{len(outcomes)} targets met; {elapsed:.0f} s")

    if args.json:
        figures = {
            "versions": versions,
            "chunks": n,
            "rounds": args.rounds,
            "elapsed_s": round(elapsed, 1),
            "formats": tables,
        }
        write_results(args.json, "bench_stream", figures)
    return 1 if args.strict and not all(ok for *_, ok in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
