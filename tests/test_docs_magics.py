"""docs/magics.md runs as written: every code block, in order, in one fresh IPython shell
(offline: the demo provider and the loopback fake server the page starts itself).

A block may fail only where the page shows it failing (its output holds ``UsageError``).
The output shown under a block must be what it printed, with timings (``0.33 s``), dates
and IPython's ``Out[n]:`` prefix set aside, and with the page's shortening rule: a line
``…`` stands for any lines left out, a line ending in `` …`` for the rest of that line.
An output marked ``<!-- output not compared: why -->`` (it depends on when a key is
pressed, or on which thread prints first) is only run. The one Ctrl-C shown is pressed
by a timer, a second into the cell.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).parent.parent / "docs" / "magics.md"

RUNNER = r"""
import json, os, re, signal, sys, threading
from pathlib import Path
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output

def lines(text):
    text = re.sub(r"^Out\[\d+\]: \n?", "", text, flags=re.M)
    text = re.sub(r"\b\d+\.\d\d s\b", "_ s", text)
    text = re.sub(r"\b\d{4}-\d\d-\d\d \d\d:\d\d\b", "DATE", text)
    return [line.rstrip() for line in text.strip("\n").splitlines()]

def shows(shown, printed):
    pattern = ""
    for line in lines(shown):
        if line == "…":
            pattern += r"(?:.*\n)*?"
        elif line.endswith(" …"):
            pattern += re.escape(line[:-1]) + r".*\n"
        else:
            pattern += re.escape(line) + r"\n"
    return re.fullmatch(pattern, "".join(l + "\n" for l in lines(printed))) is not None

page = Path(sys.argv[1]).read_text("utf-8")
blocks = re.finditer(r"(`{3,4})(\w+)\n(.*?)\n\1", page, re.S)
ip = start_ipython()
ran, compared, problems, last, end = 0, 0, [], None, 0
for block in blocks:
    lang, body = block.group(2), block.group(3)
    between, end = page[end : block.start()], block.end()
    if lang in ("python", "ipython"):
        if re.search(r"%llm keys (set|delete)", body):
            last = None  # needs a hidden prompt and the real keyring: tests/test_magic.py
            continue
        if "-o partial" in body:  # the page's Ctrl-C, a second into the cell
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        with capture_output() as cap:
            result = ip.run_cell(body, store_history=True)
        ran += 1
        last = (body, result.error_in_exec, cap.stdout + cap.stderr)
    elif lang == "text" and last is not None:
        body_in, error, printed = last
        expected_error = "UsageError" in body or "Traceback" in body
        if error is not None and not expected_error:
            problems.append({"block": body_in, "error": repr(error), "output": printed[-800:]})
        elif "<!-- output not compared" not in between:
            compared += 1
            if not shows(body, printed):
                problems.append({"block": body_in, "shown": body, "printed": printed[-1500:]})
        last = None
print("RESULT " + json.dumps({"ran": ran, "compared": compared, "problems": problems}))
"""


@pytest.mark.kernel
def test_every_example_of_the_magics_page_runs(tmp_path: Path) -> None:
    env = {**os.environ, "IPYLLM_DEMO_DELAY": "0.001", "IPYLLM_HOME": str(tmp_path)}
    env.pop("IPYLLM_MODEL", None)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(DOC)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["ran"] > 40
    assert result["compared"] > 40
    assert result["problems"] == [], json.dumps(result["problems"], indent=2)
