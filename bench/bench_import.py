"""Cold ``import ipyllm`` cost, in fresh interpreters, against a bare ``python -c pass``.

Run: ``.venv/bin/python bench/bench_import.py [--runs 20] [--json PATH]``

Measures, each in its own fresh subprocess of this interpreter:

* wall clock of ``python -c "import ipyllm"`` against ``python -c pass`` (the baseline:
  interpreter start-up and ``site``), interleaved run by run so background load hits both
  alike; the medians, the added milliseconds and their ratio;
* ``python -X importtime -c "import ipyllm"``: the cumulative import time of ``ipyllm`` as
  the interpreter reports it, and the slowest modules it pulled in (median over runs);
* that after ``import ipyllm`` none of the heavy optional modules (httpx, keyring,
  ipywidgets, anywidget, sqlite3) is in ``sys.modules`` — the exit status is 1 if one is;
* for information, the first ``ipyllm.Session("demo")`` (which loads httpx, and the key
  store) and the heavy modules it loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchjson import write_results

HEAVY = ("httpx", "keyring", "ipywidgets", "anywidget", "sqlite3")
SRC = Path(__file__).resolve().parents[1] / "src"

CHECK_MODULES = f"""
import json, sys
import ipyllm
heavy = {HEAVY!r}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))))
"""

FIRST_SESSION = f"""
import json, sys, time
import ipyllm
before = set(sys.modules)
t0 = time.perf_counter()
ipyllm.Session("demo")
elapsed = time.perf_counter() - t0
tops = {{m.split(".")[0] for m in set(sys.modules) - before}}
print(json.dumps({{"s": elapsed, "heavy": sorted(tops & set({HEAVY!r}))}}))
"""


def child_env() -> dict[str, str]:
    """This environment, with src/ first on the path (so the bench works uninstalled too)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.pop("PYTHONSTARTUP", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def run(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall time of ``python *args`` in a fresh process, and its result."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"python {' '.join(args)} failed:\n{done.stderr}")
    return elapsed, done


def parse_importtime(stderr: str) -> dict[str, tuple[int, int]]:
    """``-X importtime`` output as {module: (self µs, cumulative µs)}; first import wins."""
    out: dict[str, tuple[int, int]] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        out.setdefault(name.strip(), (int(self_us), int(cumulative_us)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="fresh processes per case, def. 20")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--top", type=int, default=8, help="slowest imported modules shown")
    args = parser.parse_args()
    env = child_env()
    print(f"Python {platform.python_version()} ({sys.executable}), {os.cpu_count()} CPUs")

    # Warm the OS file cache once; cold-disk time is not what this measures.
    run(["-c", "pass"], env)
    run(["-c", "import ipyllm"], env)

    # Modules a bare interpreter imports anyway (site, encodings, …): not ipyllm's cost.
    startup = set(parse_importtime(run(["-X", "importtime", "-c", "pass"], env)[1].stderr))

    # 1. Wall clock, interleaved; 2. -X importtime, in the same round.
    bare: list[float] = []
    imported: list[float] = []
    cumulative: list[int] = []
    per_module: dict[str, list[int]] = {}
    for i in range(args.runs):
        pair = [("bare", ["-c", "pass"]), ("import", ["-c", "import ipyllm"])]
        for kind, argv in pair if i % 2 == 0 else pair[::-1]:
            (bare if kind == "bare" else imported).append(run(argv, env)[0])
        times = parse_importtime(run(["-X", "importtime", "-c", "import ipyllm"], env)[1].stderr)
        cumulative.append(times["ipyllm"][1])
        for name, (self_us, _) in times.items():
            if name not in startup:
                per_module.setdefault(name, []).append(self_us)

    bare_ms = statistics.median(bare) * 1e3
    import_ms = statistics.median(imported) * 1e3
    added_ms = import_ms - bare_ms
    ratio = import_ms / bare_ms
    importtime_ms = statistics.median(cumulative) / 1e3
    print(f"\nwall clock, median of {args.runs} fresh processes each (interleaved):")
    print(f"  python -c pass              {bare_ms:8.1f} ms   (min {min(bare) * 1e3:.1f})")
    print(f"  python -c 'import ipyllm'   {import_ms:8.1f} ms   (min {min(imported) * 1e3:.1f})")
    print(f"  added by import ipyllm      {added_ms:8.1f} ms   ratio {ratio:.2f}x")
    print(f"-X importtime, cumulative for ipyllm (median): {importtime_ms:.1f} ms")
    slowest = sorted(((statistics.median(v), k) for k, v in per_module.items()), reverse=True)[
        : args.top
    ]
    print(
        f"  slowest of the {len(per_module)} modules it imports beyond a bare start-up "
        "(median self time):"
    )
    for us, name in slowest:
        print(f"    {us / 1e3:7.2f} ms  {name}")

    # 3. Heavy modules must stay out of a bare import.
    loaded = json.loads(run(["-c", CHECK_MODULES], env)[1].stdout)
    for name in HEAVY:
        print(f"  {'FAIL' if name in loaded else 'ok  '}  {name} not in sys.modules after import")

    # 4. The first Session (information only): loads httpx and the key store.
    firsts = [json.loads(run(["-c", FIRST_SESSION], env)[1].stdout) for _ in range(5)]
    first_ms = statistics.median(f["s"] for f in firsts) * 1e3
    first_heavy = firsts[0]["heavy"]
    print(
        f"first ipyllm.Session('demo'): {first_ms:.1f} ms (median of 5 fresh processes); "
        f"loads {', '.join(first_heavy) or 'none of the heavy modules'}"
    )

    if args.json:
        figures: dict[str, Any] = {
            "runs": args.runs,
            "bare_ms_median": round(bare_ms, 2),
            "import_ms_median": round(import_ms, 2),
            "added_ms": round(added_ms, 2),
            "ratio": round(ratio, 3),
            "importtime_cumulative_ms_median": round(importtime_ms, 2),
            "slowest_modules_ms": {name: round(us / 1e3, 3) for us, name in slowest},
            "heavy_loaded_by_import": loaded,
            "first_session_ms_median": round(first_ms, 1),
            "first_session_loads": first_heavy,
        }
        write_results(args.json, "bench_import", figures)
    if loaded:
        print(f"FAIL: import ipyllm loaded {', '.join(loaded)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
