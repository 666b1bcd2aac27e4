"""Issue 5's benchmark: emailsync against mbsync on the same Dovecot, one command.

    .venv/bin/python bench/run.py --messages 12000 --runs 3
    .venv/bin/python bench/run.py --smoke                # ~300 messages, 1 run (CI)
    .venv/bin/python bench/run.py --messages 12000 --runs 1 --profile

Starts a private Dovecot on loopback, installs a generated mailbox (cached in
bench/.cache by size, span and seed), then alternates emailsync and mbsync runs, prints
a markdown table of medians and ratios and writes the results as JSON (default
bench/results/latest.json). See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import mailboxes as mailbox_gen  # noqa: E402
import profile_summary  # noqa: E402
from dovecot import BenchDovecot, warm_page_cache  # noqa: E402
from mbsync import Mbsync  # noqa: E402
from mbsync import available as mbsync_available  # noqa: E402

USER = "bench"
PASSWORD = "secret"
CRM_USER = "seller@crm.example"
TIME = "/usr/bin/time"

# Targets (issue 5): (result key, comparison, limit, what)
TARGETS = [
    ("initial_vs_mbsync", "<=", 1.0, "initial sync wall ≤ 1.0× mbsync FSync-off full pull"),
    ("peak_rss_mb", "<=", 150.0, "emailsync peak RSS ≤ 150 MB"),
    (
        "contacts_bytes_ratio",
        "<=",
        1.1,
        "contacts-only bytes ≤ 1.1× (matching messages + first-pass headers)",
    ),
    (
        "incremental_vs_mbsync_resync",
        "<=",
        0.2,
        "no-change pass in a running worker ≤ 0.2× mbsync re-sync",
    ),
    (
        "process_resync_vs_mbsync_resync",
        "<=",
        3.0,
        "`sync --once` process, no change ≤ 3× mbsync re-sync",
    ),
    ("new_mail_latency_s", "<=", 0.6, "APPEND → in store ≤ 0.6 s median"),
]


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- running things ----------------------------------------------------------------------


def timed(cmd: list[str], env: dict[str, str], server: BenchDovecot) -> dict:
    """Run under /usr/bin/time -v: wall (perf_counter), user, sys, peak RSS, and the
    server's CPU."""
    before = server.server_cpu()
    started = time.perf_counter()
    proc = subprocess.run([TIME, "-v", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started  # finer than time -v's m:ss.cc
    time.sleep(0.3)  # let Dovecot reap the imap process so its CPU is counted
    after = server.server_cpu()
    out = {"server_cpu": round(after - before, 2), "exit": proc.returncode}
    patterns = {
        "user": r"User time \(seconds\): (\S+)",
        "sys": r"System time \(seconds\): (\S+)",
        "maxrss_kb": r"Maximum resident set size \(kbytes\): (\d+)",
    }
    for key, pattern in patterns.items():
        if m := re.search(pattern, proc.stderr):
            out[key] = float(m.group(1))
    out["wall"] = round(wall, 4)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    out["stderr_tail"] = proc.stderr.split("\tCommand being timed")[0][-500:]
    return out


def emailsync_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "emailsync", *args]


def cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    proc = subprocess.run(
        emailsync_cmd(*args), env=env, input=stdin, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"emailsync {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def inproc(env: dict[str, str], *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "inproc.py"), *args], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"inproc {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


EMAILSYNC_SRC: str | None = None  # --emailsync-src: bench another checkout's src/


def home_env(home: Path, server: BenchDovecot) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAILSYNC_")}
    env.update(EMAILSYNC_HOME=str(home), EMAILSYNC_CA_FILE=server.cafile, PYTHONUNBUFFERED="1")
    if EMAILSYNC_SRC:  # PYTHONPATH comes before the editable install's .pth entry
        env["PYTHONPATH"] = EMAILSYNC_SRC
    return env


def compile_emailsync() -> None:
    """Write the package's bytecode before anything is timed, as an installed program has it.

    An editable install leaves bytecode to the first import, and with
    PYTHONDONTWRITEBYTECODE set (as on our CI machines) every timed process would compile
    the whole package again: ~20 ms of a `sync --once` that mbsync, a compiled program,
    never pays. compileall writes it whatever that variable says."""
    src = Path(EMAILSYNC_SRC) if EMAILSYNC_SRC else REPO / "src"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src / "emailsync")], check=True)


def describe_emailsync() -> dict:
    src = Path(EMAILSYNC_SRC) if EMAILSYNC_SRC else REPO / "src"
    info: dict = {"src": str(src)}
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    # with --emailsync-src this is only the checkout the bench ran from, not the code benched
    info["repo_head" if not EMAILSYNC_SRC else "bench_checkout_head"] = head.stdout.strip()
    if not EMAILSYNC_SRC:
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "src"], capture_output=True, text=True
        )
        info["working_tree_changes_in_src"] = len(dirty.stdout.splitlines())
    return info


def make_template(work: Path, server: BenchDovecot, tls: bool) -> tuple[Path, str]:
    """A data dir with the CRM user and the connected account, copied for every run."""
    home = work / "template"
    env = home_env(home, server)
    cli(env, "users", "add", CRM_USER)
    port, security = (server.tls_port, "ssl") if tls else (server.port, "plain")
    cli(
        env, "accounts", "add", "--user", CRM_USER, "--email", mailbox_gen.OWNER_EMAIL,
        "--imap", f"{server.host}:{port}", "--imap-security", security,
        "--username", USER, "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    account = str(json.loads(cli(env, "accounts", "list", "--json"))[0]["id"])
    cli(env, "accounts", "configure", account, "--sync-from", "6m", "--past-scope", "all")
    return home, account


def fresh_home(template: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(template, dest)
    return dest


def synced_count(env: dict[str, str], account: str) -> int:
    status = json.loads(cli(env, "accounts", "status", account, "--json"))
    return sum(f.get("synced_messages") or 0 for f in status["folders"])


# -- the contacts-only measurement ---------------------------------------------------------


def choose_contacts(messages: list[dict], seed: int, share: float) -> tuple[list[str], dict]:
    """Sender/recipient addresses, in a seeded random order, until `share` of the
    messages involve one of them. Returns the addresses and the expected byte counts."""
    owner = mailbox_gen.OWNER_EMAIL
    pool = sorted({a for m in messages for a in m["addresses"] if a != owner})
    random.Random(seed).shuffle(pool)
    chosen: set[str] = set()
    matching = 0
    for address in pool:
        if matching >= share * len(messages):
            break
        chosen.add(address)
        matching = sum(1 for m in messages if chosen.intersection(m["addresses"]))
    hits = [m for m in messages if chosen.intersection(m["addresses"])]
    expected = {
        "messages": len(messages),
        "matching_messages": len(hits),
        "matching_bytes": sum(m["size"] for m in hits),
        "matching_header_bytes": sum(m["header_bytes"] for m in hits),
        "all_header_bytes": sum(m["header_bytes"] for m in messages),
    }
    return sorted(chosen), expected


def contacts_run(work: Path, template: Path, account: str, server: BenchDovecot,
                 mailbox: Path, seed: int) -> dict:  # fmt: skip
    home = fresh_home(template, work / "contacts")
    env = home_env(home, server)
    messages = mailbox_gen.load_messages(mailbox)
    contacts, expected = choose_contacts(messages, seed, share=0.10)
    csv_path = work / "contacts.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "email", "org"])
        for address in contacts:
            writer.writerow([address.split("@")[0].replace(".", " ").title(), address, ""])
    cli(env, "contacts", "import", str(csv_path))
    cli(env, "accounts", "configure", account, "--sync-from", "6m", "--past-scope", "contacts")
    measured = inproc(env, "contacts", "--account", account)
    minimal = expected["matching_bytes"] + expected["all_header_bytes"]
    strict = expected["matching_bytes"] + expected["matching_header_bytes"]
    return {
        "contacts": len(contacts),
        "expected": expected,
        "measured": measured,
        "ratio_vs_matching_plus_all_first_pass_headers": round(
            measured["bytes_received"] / minimal, 4
        ),
        "ratio_vs_matching_plus_their_headers": round(measured["bytes_received"] / strict, 4),
        "stored_matches_expected": measured["stored_messages"] == expected["matching_messages"],
    }


# -- profile ------------------------------------------------------------------------------


def profile_run(work: Path, template: Path, account: str, server: BenchDovecot) -> dict:
    home = fresh_home(template, work / "profile")
    env = home_env(home, server)
    out = work / "initial.prof"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out),
         "-m", "emailsync", "sync", account, "--once"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    keep = BENCH / "results" / "initial.prof"
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(out, keep)
    return {
        "wall_under_profiler": round(wall, 2),
        "prof_file": str(keep.relative_to(REPO)),
        **profile_summary.summarize(keep),
    }


# -- reporting ------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def summarize(runs: dict[str, list[dict]]) -> dict:
    out = {}
    for name, items in runs.items():
        out[name] = {
            key: median([r[key] for r in items if key in r])
            for key in ("wall", "user", "sys", "maxrss_kb", "server_cpu")
        }
        out[name]["walls"] = [r["wall"] for r in items]
    return out


def markdown(result: dict) -> str:
    s = result["summary"]
    ref_full = s["mbsync_full_fsync_no"]["wall"]
    ref_resync = s["mbsync_resync"]["wall"]
    lines = [
        f"### emailsync vs mbsync — {result['mailbox']['total_count']} messages "
        f"({result['mailbox']['total_bytes'] / 1e6:.0f} MB), {result['runs']} run(s), medians",
        "",
        "| measurement | wall s | user s | sys s | peak RSS MB | server CPU s | × mbsync |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [
        ("mbsync full pull, FSync no (reference)", "mbsync_full_fsync_no", ref_full),
        ("mbsync full pull, FSync yes", "mbsync_full_fsync_yes", ref_full),
        ("emailsync initial sync (`sync --once`)", "emailsync_initial", ref_full),
        ("mbsync re-sync, no change (reference)", "mbsync_resync", ref_resync),
        ("emailsync `sync --once`, no change", "emailsync_resync_process", ref_resync),
    ]
    for label, key, ref in rows:
        if key not in s:
            continue
        r = s[key]
        lines.append(
            f"| {label} | {r['wall']:.2f} | {r['user']:.2f} | {r['sys']:.2f} | "
            f"{r['maxrss_kb'] / 1024:.0f} | {r['server_cpu']:.2f} | {r['wall'] / ref:.2f} |"
        )
    inc = result.get("incremental")
    if inc:
        w = inc["pass_seconds"]["median"]
        lines.append(
            f"| emailsync no-change pass in a running worker | {w:.3f} | | | | | "
            f"{w / ref_resync:.3f} |"
        )
        if "pass_seconds_no_idle" in inc:
            n = inc["pass_seconds_no_idle"]["median"]
            lines.append(
                f"| the same passes back to back, Inbox not kept open | {n:.3f} | | | | | "
                f"{n / ref_resync:.3f} |"
            )
    lines += ["", "| target | measured | limit | met |", "| --- | ---: | ---: | :---: |"]
    for t in result["targets"]:
        value = "n/a" if t["value"] is None else f"{t['value']:.3f}"
        met = "—" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['what']} | {value} | {t['limit']} | {met} |")
    c = result.get("contacts")
    if c:
        e = c["expected"]
        lines += [
            "",
            f"Contacts-only: {c['contacts']} contacts, {e['matching_messages']} of {e['messages']} "
            f"messages match ({e['matching_bytes'] / 1e6:.1f} MB); received "
            f"{c['measured']['bytes_received'] / 1e6:.2f} MB; first-pass headers of all messages "
            f"{e['all_header_bytes'] / 1e6:.2f} MB; "
            f"ratio {c['ratio_vs_matching_plus_all_first_pass_headers']} "
            f"(vs matching + only their headers: {c['ratio_vs_matching_plus_their_headers']}).",
        ]
    lat = result.get("latency")
    if lat:
        lines.append(
            f"New mail: APPEND → store median {lat['append_to_store_ms']['median']:.0f} ms "
            f"(p90 {lat['append_to_store_ms']['p90']:.0f}); Dovecot APPEND → EXISTS median "
            f"{lat['dovecot_append_to_exists_ms']['median']:.1f} ms to a read-write "
            f"session, {lat['dovecot_append_to_exists_readonly_ms']['median']:.1f} ms to a "
            "read-only one like the worker's."
        )
    return "\n".join(lines)


def evaluate(result: dict) -> list[dict]:
    s = result["summary"]
    values = {
        "initial_vs_mbsync": s["emailsync_initial"]["wall"] / s["mbsync_full_fsync_no"]["wall"],
        "peak_rss_mb": max(r["maxrss_kb"] for r in result["raw"]["emailsync_initial"]) / 1024,
        "process_resync_vs_mbsync_resync": s["emailsync_resync_process"]["wall"]
        / s["mbsync_resync"]["wall"],
    }
    if result.get("incremental"):
        values["incremental_vs_mbsync_resync"] = (
            result["incremental"]["pass_seconds"]["median"] / s["mbsync_resync"]["wall"]
        )
    if result.get("contacts"):
        values["contacts_bytes_ratio"] = result["contacts"][
            "ratio_vs_matching_plus_all_first_pass_headers"
        ]
    if result.get("latency"):
        values["new_mail_latency_s"] = result["latency"]["append_to_store_ms"]["median"] / 1000
    targets = []
    for key, op, limit, what in TARGETS:
        value = values.get(key)
        met = None if value is None else (value <= limit if op == "<=" else value >= limit)
        targets.append(
            {
                "key": key,
                "what": what,
                "limit": limit,
                "value": None if value is None else round(value, 4),
                "met": met,
            }
        )
    return targets


# -- main -----------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--messages",
        type=int,
        default=12000,
        help="total messages: 5/6 in INBOX, 1/6 in Sent (default 12000)",
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="~300 messages, 1 run, few reps (CI)")
    ap.add_argument(
        "--span-days", type=int, default=150, help="mail dates spread over this many days"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache-dir", type=Path, default=BENCH / ".cache")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results JSON (default bench/results/latest.json; smoke: smoke.json)",
    )
    ap.add_argument(
        "--tls", action="store_true", help="both tools over implicit TLS instead of plain loopback"
    )
    ap.add_argument("--latency-reps", type=int, default=20)
    ap.add_argument("--incremental-reps", type=int, default=5)
    ap.add_argument(
        "--profile", action="store_true", help="also cProfile one emailsync initial sync"
    )
    ap.add_argument(
        "--skip", default="", help="comma list of: contacts,latency,incremental,fsync-yes"
    )
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument(
        "--emailsync-src",
        default=None,
        help="bench the emailsync package in this src/ dir (e.g. an exported commit) "
        "instead of the installed working tree",
    )
    a = ap.parse_args()
    global EMAILSYNC_SRC
    EMAILSYNC_SRC = str(Path(a.emailsync_src).resolve()) if a.emailsync_src else None
    if a.smoke:
        a.messages, a.runs, a.latency_reps, a.incremental_reps = 300, 1, 3, 2
    out_path = a.out or BENCH / "results" / ("smoke.json" if a.smoke else "latest.json")
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}

    missing = [
        n
        for n, ok in (
            ("mbsync (apt-get install isync)", mbsync_available()),
            ("/usr/bin/time (apt-get install time)", os.path.exists(TIME)),
        )
        if not ok
    ]
    if missing:
        log("error: missing " + ", ".join(missing))
        return 2

    spec = mailbox_gen.Spec(
        inbox=a.messages - a.messages // 6, sent=a.messages // 6, span_days=a.span_days, seed=a.seed
    )
    mbox = mailbox_gen.ensure(spec, a.cache_dir, log=log)
    manifest = json.loads((mbox / "manifest.json").read_text())
    warm_page_cache(mbox)
    compile_emailsync()

    work = Path(tempfile.mkdtemp(prefix="emailsync-bench-"))
    server = BenchDovecot(plaintext_auth=True)
    result: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "mbsync": subprocess.run(
                ["mbsync", "--version"], capture_output=True, text=True
            ).stdout.strip(),
        },
        "mode": "smoke" if a.smoke else "full",
        "runs": a.runs,
        "tls": a.tls,
        "emailsync": describe_emailsync(),
        "mailbox": {
            k: manifest[k]
            for k in (
                "key",
                "total_count",
                "inbox_count",
                "sent_count",
                "total_bytes",
                "median_size",
                "mean_size",
                "generated_at",
            )
        },
    }
    try:
        server.start()
        server.add_user(USER, PASSWORD)
        log(f"installing the mailbox into Dovecot (pid {server.pid}) and indexing it")
        server.install_mailbox(USER, mbox)
        template, account = make_template(work, server, a.tls)
        port = server.tls_port if a.tls else server.port
        mb = {fs: Mbsync(work, port=port, user=USER, password=PASSWORD, fsync=fs, tls=a.tls,
                         cafile=server.cafile) for fs in (False, True)}  # fmt: skip
        # Untimed warm-up pull: Dovecot fills its caches on the first full FETCH, which
        # would otherwise land on whichever tool runs first.
        mb[False].wipe()
        subprocess.run(mb[False].command(), check=True, capture_output=True)
        raw: dict[str, list[dict]] = {
            k: []
            for k in (
                "mbsync_full_fsync_no",
                "mbsync_resync",
                "emailsync_initial",
                "emailsync_resync_process",
                "mbsync_full_fsync_yes",
            )
        }
        counts = []
        last_home = template
        for i in range(a.runs):
            log(f"run {i + 1}/{a.runs}")
            mb[False].wipe()
            os.sync()
            raw["mbsync_full_fsync_no"].append(
                timed(mb[False].command(), os.environ.copy(), server)
            )
            time.sleep(1.1)  # mbsync waits out a maildir modified within the current second
            os.sync()  # the pull's write-back is not the re-sync's to wait for
            raw["mbsync_resync"].append(timed(mb[False].command(), os.environ.copy(), server))
            last_home = fresh_home(template, work / "run")
            env = home_env(last_home, server)
            os.sync()
            raw["emailsync_initial"].append(
                timed(emailsync_cmd("sync", account, "--once"), env, server)
            )
            counts.append(synced_count(env, account))
            time.sleep(1.1)  # same pause as mbsync gets
            os.sync()
            raw["emailsync_resync_process"].append(
                timed(emailsync_cmd("sync", account, "--once"), env, server)
            )
            if "fsync-yes" not in skip:
                mb[True].wipe()
                os.sync()
                raw["mbsync_full_fsync_yes"].append(
                    timed(mb[True].command(), os.environ.copy(), server)
                )
            for name, items in raw.items():
                if items:
                    log(
                        f"  {name:28s} wall {items[-1]['wall']:7.2f} s  "
                        f"rss {items[-1]['maxrss_kb'] / 1024:6.0f} MB"
                        f"  server cpu {items[-1]['server_cpu']:.2f} s"
                    )
        result["emailsync_synced_messages"] = counts
        result["emailsync_synced_all"] = all(c == manifest["total_count"] for c in counts)
        env = home_env(last_home, server)
        if "incremental" not in skip:
            log("in-process no-change passes")
            result["incremental"] = inproc(
                env, "incremental", "--account", account, "--reps", str(a.incremental_reps)
            )
        if "contacts" not in skip:
            log("contacts-only past sync")
            result["contacts"] = contacts_run(work, template, account, server, mbox, a.seed)
        if a.profile:
            log("profiling one initial sync (cProfile)")
            result["profile"] = profile_run(work, template, account, server)
        if "latency" not in skip:  # last: it APPENDs to INBOX
            log("new-mail latency")
            result["latency"] = inproc(
                env,
                "latency",
                "--account",
                account,
                "--reps",
                str(a.latency_reps),
                "--host",
                server.host,
                "--port",
                str(server.port),
                "--user",
                USER,
                "--password",
                PASSWORD,
            )
        result["raw"] = raw
        result["summary"] = summarize({k: v for k, v in raw.items() if v})
        result["targets"] = evaluate(result)
    finally:
        server.stop()
        if a.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for items in result["raw"].values():
        for r in items:
            r.pop("stderr_tail", None)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    table = markdown(result)
    print(table)
    if result.get("profile"):
        p = result["profile"]
        print(
            f"\nProfile of one initial sync (cProfile, {p['wall_under_profiler']} s wall), "
            "cumulative:"
        )
        for label, stage in p["stages_cumtime"].items():
            print(f"  {label:48s} {stage['cumtime']:8.2f} s")
    log(f"results written to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
