"""Property: any interleaving of appends, flag changes, expunges, syncs and syncs cut
off mid-transfer ends, after one clean sync, with the store equal to the server."""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message
from support.proxy import CuttingProxy

NOW = datetime.now(UTC)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 4)),
        st.tuples(st.just("flag"), st.integers(0, 30)),
        st.tuples(st.just("expunge"), st.integers(0, 30)),
        st.tuples(st.just("sync"), st.just(0)),
        st.tuples(st.just("cut"), st.integers(300, 6000)),
    ),
    min_size=1,
    max_size=12,
)


def server_state(server: DovecotServer, user: str) -> dict[str, list[str]]:
    with server.client(user) as c:
        c.select_folder("INBOX", readonly=True)
        uids = c.search("ALL")
        if not uids:
            return {}
        data = c.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    state = {}
    for item in data.values():
        subject = item[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
        flags = sorted(f.decode() for f in item[b"FLAGS"] if f != b"\\Recent")
        state[subject] = flags
    return state


@pytest.mark.parametrize("flavour", ["dovecot", "dovecot_basic"])
def test_any_interleaving_converges_to_the_servers_state(
    flavour: str, request: pytest.FixtureRequest
) -> None:
    server: DovecotServer = request.getfixturevalue(flavour)

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(operations)
    @example(
        [
            ("append", 3),
            ("sync", 0),
            ("flag", 1),
            ("expunge", 0),
            ("cut", 2500),
            ("append", 2),
            ("expunge", 1),
        ]
    )
    def run(ops: list[tuple[str, int]]) -> None:
        user = server.add_user(f"p{uuid.uuid4().hex[:12]}")
        proxy = CuttingProxy(server.host, server.port)
        with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as home:
            harness = Harness(mp, Path(home), None, server.cafile)
            harness.connect_through(proxy, user)
            uids: list[int] = []
            serial = 0
            for op, arg in ops:
                if op == "append":
                    for _ in range(arg):
                        serial += 1
                        raw = make_message(subject=f"s{serial}", body="x" * 2000)
                        uids.append(
                            server.append(user, "INBOX", raw, internaldate=NOW - timedelta(hours=1))
                        )
                elif op in ("flag", "expunge") and uids:
                    uid = uids[arg % len(uids)]
                    if op == "flag":
                        server.set_flags(user, "INBOX", uid, [r"\Seen", r"\Flagged"][: arg % 3])
                    else:
                        server.expunge(user, "INBOX", uid)
                        uids.remove(uid)
                elif op == "sync":
                    harness.ok("sync", "1", "--once")
                elif op == "cut":
                    proxy.cut_after = arg
                    harness.cli("sync", "1", "--once")  # may fail: the link was cut
                    proxy.cut_after = None
            harness.ok("sync", "1", "--once")
            stored = {m["subject"]: m["flags"] for m in harness.messages("1")}
        proxy.close()
        assert stored == server_state(server, user)

    run()
