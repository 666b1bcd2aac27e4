"""The benchmark (bench/run.py, issue 5) keeps working: a ~300-message smoke run.

It is a benchmark, not a test: nothing here looks at timings or at whether a target is
met, only that the one command runs end to end against Dovecot and mbsync and writes
its results file with every measurement in it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.dovecot import DOVECOT

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "bench" / "run.py"

MEASUREMENTS = (
    "mbsync_full_fsync_no",
    "mbsync_full_fsync_yes",
    "mbsync_resync",
    "emailsync_initial",
    "emailsync_resync_process",
)
TARGET_KEYS = {
    "initial_vs_mbsync",
    "peak_rss_mb",
    "contacts_bytes_ratio",
    "incremental_vs_mbsync_resync",
    "process_resync_vs_mbsync_resync",
    "new_mail_latency_s",
}


def _require_tools() -> None:
    missing = [
        name
        for name, present in (
            ("mbsync (apt-get install isync)", shutil.which("mbsync") is not None),
            ("/usr/bin/time (apt-get install time)", os.path.exists("/usr/bin/time")),
            ("Dovecot (apt-get install dovecot-imapd)", os.path.exists(DOVECOT)),
        )
        if not present
    ]
    if not missing:
        return
    reason = "the benchmark needs " + ", ".join(missing)
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason}. In CI (CI is set) this is an error.", pytrace=False)
    pytest.skip(reason)


@pytest.mark.timeout(600)
def test_the_benchmark_smoke_run_writes_every_measurement(tmp_path: Path) -> None:
    _require_tools()
    out = tmp_path / "smoke.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAILSYNC_")}
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--out", str(out),
         "--cache-dir", str(tmp_path / "cache")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert proc.returncode == 0, f"bench/run.py --smoke failed:\n{proc.stderr[-5000:]}"
    assert "| emailsync initial sync" in proc.stdout  # the markdown table
    result = json.loads(out.read_text())
    assert result["mode"] == "smoke"
    assert result["mailbox"]["total_count"] == 300
    assert result["emailsync_synced_all"] is True, result["emailsync_synced_messages"]
    for name in MEASUREMENTS:
        assert len(result["raw"][name]) == 1, name
        assert set(result["summary"][name]) >= {"wall", "user", "sys", "maxrss_kb", "server_cpu"}
    assert {t["key"] for t in result["targets"]} == TARGET_KEYS
    assert all(t["value"] is not None for t in result["targets"])
    assert result["incremental"]["pass_seconds"]["n"] >= 1
    assert result["contacts"]["stored_matches_expected"] is True
    assert result["contacts"]["measured"]["bytes_received"] > 0
    assert result["latency"]["append_to_store_ms"]["n"] >= 1
    assert result["latency"]["dovecot_append_to_exists_ms"]["n"] >= 1
