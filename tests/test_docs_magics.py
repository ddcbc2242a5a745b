"""docs/magics.md runs as written: every code block, in order, in one fresh IPython shell
(offline: the demo provider and the loopback fake server the page starts itself).

A block may fail only where the page shows it failing (its output holds ``UsageError``).
The outputs themselves carry timings, dates and execution counts, so they are not
compared character for character.
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
import json, re, sys
from pathlib import Path
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output

blocks = re.findall(r"(`{3,4})(\w+)\n(.*?)\n\1", Path(sys.argv[1]).read_text("utf-8"), re.S)
ip = start_ipython()
ran, problems, last = 0, [], None
for _, lang, body in blocks:
    if lang in ("python", "ipython"):
        if re.search(r"%llm keys (set|delete)", body):
            last = None  # needs a hidden prompt and the real keyring: tests/test_magic.py
            continue
        with capture_output() as cap:
            result = ip.run_cell(body, store_history=True)
        ran += 1
        last = (body, result.error_in_exec, cap.stdout + cap.stderr)
    elif lang == "text" and last is not None:
        body_in, error, shown = last
        expected_error = "UsageError" in body or "Traceback" in body
        if error is not None and not expected_error:
            problems.append({"block": body_in, "error": repr(error), "output": shown[-800:]})
        last = None
print("RESULT " + json.dumps({"ran": ran, "problems": problems}))
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
    assert result["problems"] == [], json.dumps(result["problems"], indent=2)
