"""The CRM side over real syncs: threads, automatic links with their reasons, privacy,
blocking and backfill, all read back through the CLI's JSON."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.domain.states import Visibility
from emailsync.errors import Conflict, UsageError
from emailsync.services import crm, users
from emailsync.store.db import open_database
from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message

NOW = datetime.now(UTC)
DAY = timedelta(days=1)


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> str:
    return dovecot.add_user(f"c{uuid.uuid4().hex[:12]}")


def synced(harness: Harness, dovecot: DovecotServer, user: str, scope: str = "all") -> str:
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--sync-from", "3m", "--past-scope", scope)
    harness.ok("sync", account, "--once")
    return account


def by_subject(harness: Harness, account: str, user: str | None = None) -> dict[str, dict]:
    args = ["messages", "list", "--account", account, "--json"]
    if user:
        args += ["--user", user]
    return {m["subject"]: m for m in harness.ok(*args).json()}


def test_replies_thread_together_and_link_to_person_organisation_and_deal(
    harness: Harness, dovecot: DovecotServer, mailbox: str
) -> None:
    harness.ok("orgs", "add", "Acme", "--domain", "acme.example")
    harness.ok("contacts", "add", "bob@acme.example", "--name", "Bob Jones", "--org", "Acme")
    harness.ok("deals", "add", "Acme renewal", "--person", "bob@acme.example", "--value", "1200")
    first = make_message(subject="Renewal", message_id="<r1@acme.example>")
    reply = make_message(
        subject="Re: Renewal",
        sender="me@example.com",
        to="bob@acme.example",
        in_reply_to="<r1@acme.example>",
    )
    dovecot.append(mailbox, "INBOX", first, internaldate=NOW - 2 * DAY)
    dovecot.append(mailbox, "Sent", reply, internaldate=NOW - DAY)
    account = synced(harness, dovecot, mailbox)
    messages = by_subject(harness, account)
    assert messages["Renewal"]["thread_id"] == messages["Re: Renewal"]["thread_id"]
    for m in messages.values():
        assert [c["name"] for c in m["contacts"]] == ["Bob Jones"]
        assert [o["name"] for o in m["organisations"]] == ["Acme"]
        assert m["deal"]["title"] == "Acme renewal"
    why = harness.ok("messages", "why", str(messages["Renewal"]["id"])).out
    assert "bob@acme.example (From) is Bob Jones" in why
    assert "Bob Jones works at Acme" in why
    assert "whose only open deal is 'Acme renewal'" in why


def test_an_unknown_address_at_an_organisations_domain_links_the_organisation(
    harness: Harness, dovecot: DovecotServer, mailbox: str
) -> None:
    harness.ok("orgs", "add", "Globex", "--domain", "globex.example")
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Hi", sender="new@eu.globex.example"),
        internaldate=NOW - DAY,
    )
    account = synced(harness, dovecot, mailbox)
    message = by_subject(harness, account)["Hi"]
    assert message["contacts"] == []
    assert [o["name"] for o in message["organisations"]] == ["Globex"]
    assert "a domain of Globex" in harness.ok("messages", "why", str(message["id"])).out


@pytest.mark.parametrize(
    ("deals", "linked"),
    [(["open"], True), (["open", "open"], False), (["won"], False), (["lost", "open"], True)],
)
def test_a_thread_goes_to_a_deal_only_when_the_person_has_exactly_one_open_deal(
    harness: Harness, dovecot: DovecotServer, mailbox: str, deals: list[str], linked: bool
) -> None:
    harness.ok("contacts", "add", "bob@acme.example", "--name", "Bob")
    for n, status in enumerate(deals):
        harness.ok("deals", "add", f"Deal {n}", "--person", "bob@acme.example", "--status", status)
    dovecot.append(mailbox, "INBOX", make_message(subject="Hello"), internaldate=NOW - DAY)
    account = synced(harness, dovecot, mailbox)
    assert (by_subject(harness, account)["Hello"]["deal"] is not None) is linked


def test_linking_is_retroactive_for_contacts_and_deals_added_later(
    harness: Harness, dovecot: DovecotServer, mailbox: str
) -> None:
    dovecot.append(mailbox, "INBOX", make_message(subject="Early"), internaldate=NOW - DAY)
    account = synced(harness, dovecot, mailbox)
    assert by_subject(harness, account)["Early"]["contacts"] == []
    harness.ok("contacts", "add", "bob@acme.example", "--name", "Bob")
    harness.ok("deals", "add", "Later deal", "--person", "bob@acme.example")
    message = by_subject(harness, account)["Early"]
    assert [c["name"] for c in message["contacts"]] == ["Bob"]
    assert message["deal"]["title"] == "Later deal"


def test_a_thread_stays_on_its_deal_and_a_closed_deal_takes_no_new_mail(
    harness: Harness, dovecot: DovecotServer, mailbox: str
) -> None:
    harness.ok("contacts", "add", "bob@acme.example")
    harness.ok("deals", "add", "First", "--person", "bob@acme.example")
    dovecot.append(
        mailbox, "INBOX", make_message(subject="Q", message_id="<q1@x>"), internaldate=NOW - DAY
    )
    account = synced(harness, dovecot, mailbox)
    deal_id = harness.ok("deals", "list", "--json").json()[0]["id"]
    harness.ok("deals", "update", str(deal_id), "--status", "won")
    harness.ok("deals", "add", "Second", "--person", "bob@acme.example")
    later = datetime.now(UTC) + timedelta(seconds=2)  # INTERNALDATE has whole seconds
    dovecot.append(
        mailbox, "INBOX", make_message(subject="Re: Q", in_reply_to="<q1@x>"), internaldate=later
    )
    harness.ok("sync", account, "--once")
    messages = by_subject(harness, account)
    assert messages["Re: Q"]["deal"] is None  # arrived after the deal was won (one rule)
    thread = harness.ok(
        "threads", "show", str(messages["Q"]["thread_id"]), "--user", "seller@crm.example", "--json"
    ).json()
    on_deal = {m["subject"]: m["on_deal"] for m in thread["messages"]}
    assert on_deal == {"Q": True, "Re: Q": False}


def test_colleagues_see_shared_linked_threads_only_and_never_private_ones(
    harness: Harness, dovecot: DovecotServer, mailbox: str
) -> None:
    harness.ok("users", "add", "seller@crm.example")
    harness.ok("users", "add", "colleague@crm.example")
    harness.ok("contacts", "add", "bob@acme.example", "--name", "Bob")
    harness.ok(
        "contacts",
        "add",
        "secret@private.example",
        "--owner",
        "seller@crm.example",
        "--visibility",
        "owner",
    )
    dovecot.append(mailbox, "INBOX", make_message(subject="Linked"), internaldate=NOW - DAY)
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Unlinked", sender="x@nobody.example"),
        internaldate=NOW - DAY,
    )
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Owner-only contact", sender="secret@private.example"),
        internaldate=NOW - DAY,
    )
    account = synced(harness, dovecot, mailbox)

    def seen_by(user: str) -> list[str]:
        threads = harness.ok("threads", "list", "--user", user, "--json").json()
        return sorted(t["subject"] for t in threads)

    everything = ["Linked", "Owner-only contact", "Unlinked"]
    assert seen_by("seller@crm.example") == everything
    assert seen_by("colleague@crm.example") == []  # private by default
    for t in harness.ok("threads", "list", "--user", "seller@crm.example", "--json").json():
        harness.ok("threads", "share", str(t["id"]), "shared", "--user", "seller@crm.example")
    assert seen_by("colleague@crm.example") == ["Linked"]
    assert sorted(by_subject(harness, account, "colleague@crm.example")) == ["Linked"]
    linked = by_subject(harness, account)["Linked"]
    refused = harness.cli(
        "threads", "share", str(linked["thread_id"]), "private", "--user", "colleague@crm.example"
    )
    assert refused.code == 1 and "Only the owner" in refused.err
    hidden = by_subject(harness, account)["Unlinked"]
    assert (
        harness.cli(
            "threads", "show", str(hidden["thread_id"]), "--user", "colleague@crm.example"
        ).code
        == 1
    )


def test_blocking_removes_mail_after_confirmation_and_unblocking_brings_it_back(
    harness: Harness, dovecot: DovecotServer, mailbox: str
) -> None:
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Promo", sender="deals@shop.example"),
        internaldate=NOW - DAY,
    )
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Mixed", sender="deals@shop.example", cc="bob@acme.example"),
        internaldate=NOW - DAY,
    )
    account = synced(harness, dovecot, mailbox)
    unconfirmed = harness.cli("block", "add", "shop.example", "--user", "seller@crm.example")
    assert unconfirmed.code == 1 and "removes 1 synced messages in 1 threads" in unconfirmed.err
    harness.ok("block", "add", "shop.example", "--user", "seller@crm.example", "--yes")
    assert sorted(by_subject(harness, account)) == ["Mixed"]
    dovecot.append(mailbox, "INBOX", make_message(subject="Promo 2", sender="x@news.shop.example"))
    harness.ok("sync", account, "--once")
    assert sorted(by_subject(harness, account)) == ["Mixed"]
    harness.ok("block", "remove", "shop.example", "--user", "seller@crm.example")
    harness.ok("sync", account, "--rescan")
    assert sorted(by_subject(harness, account)) == ["Mixed", "Promo", "Promo 2"]
    harness.ok("sync", account, "--rescan")
    assert len(by_subject(harness, account)) == 3


def test_backfill_contact_fetches_mail_a_contacts_only_sync_left_out(
    harness: Harness, dovecot: DovecotServer, mailbox: str
) -> None:
    harness.ok("contacts", "add", "bob@acme.example")
    dovecot.append(mailbox, "INBOX", make_message(subject="Bob"), internaldate=NOW - 5 * DAY)
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Ann", sender="ann@new.example"),
        internaldate=NOW - 5 * DAY,
    )
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Cy", sender="cy@other.example"),
        internaldate=NOW - 5 * DAY,
    )
    account = synced(harness, dovecot, mailbox, scope="contacts")
    assert sorted(by_subject(harness, account)) == ["Bob"]
    harness.ok("contacts", "add", "ann@new.example", "--name", "Ann")
    harness.ok("sync", account, "--backfill-contact", "ann@new.example")
    assert sorted(by_subject(harness, account)) == ["Ann", "Bob"]
    harness.ok("sync", account, "--backfill-contact", "ann@new.example")
    assert sorted(by_subject(harness, account)) == ["Ann", "Bob"]


def test_manual_unlink_sticks_and_split_separates_a_wrongly_merged_thread(
    harness: Harness, dovecot: DovecotServer, mailbox: str
) -> None:
    harness.ok("contacts", "add", "bob@acme.example", "--name", "Bob")
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Plan", message_id="<p1@x>"),
        internaldate=NOW - 2 * DAY,
    )
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Off topic", in_reply_to="<p1@x>"),
        internaldate=NOW - DAY,
    )
    account = synced(harness, dovecot, mailbox)
    messages = by_subject(harness, account)
    thread = messages["Plan"]["thread_id"]
    assert messages["Off topic"]["thread_id"] == thread
    person = messages["Plan"]["contacts"][0]["id"]
    harness.ok(
        "threads", "unlink", str(thread), "--person", str(person), "--user", "seller@crm.example"
    )
    assert by_subject(harness, account)["Plan"]["contacts"] == []
    harness.ok("threads", "split", str(messages["Off topic"]["id"]), "--user", "seller@crm.example")
    messages = by_subject(harness, account)
    assert messages["Off topic"]["thread_id"] != messages["Plan"]["thread_id"]
    harness.ok("threads", "rebuild", account)
    messages = by_subject(harness, account)
    assert messages["Off topic"]["thread_id"] != messages["Plan"]["thread_id"]


def test_sent_from_addresses_are_learnt_as_aliases_and_never_become_contacts(
    harness: Harness, dovecot: DovecotServer, mailbox: str
) -> None:
    harness.ok("contacts", "add", "me.alias@example.com", "--name", "Me by mistake")
    dovecot.append(
        mailbox,
        "Sent",
        make_message(subject="Out", sender="me.alias@example.com"),
        internaldate=NOW - DAY,
    )
    account = synced(harness, dovecot, mailbox)
    aliases = harness.ok("accounts", "aliases", account, "--json").json()
    assert aliases == ["me.alias@example.com"]
    assert by_subject(harness, account)["Out"]["contacts"] == []
    assert by_subject(harness, account)["Out"]["direction"] == "sent"


def test_records_are_changed_deleted_and_imported_from_the_command_line(
    harness: Harness, tmp_path: object
) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "people.csv").write_text(
        "name,email,org\nAnn,ann@a.example,Alpha\nCy,cy@c.example,\n"
    )
    harness.ok("contacts", "import", str(folder / "people.csv"))
    people = {p["name"]: p for p in harness.ok("contacts", "list", "--json").json()}
    assert people["Ann"]["org"] == "Alpha" and people["Cy"]["org"] == ""
    harness.ok(
        "contacts", "update", str(people["Cy"]["id"]), "--org", "Cyco", "--also", "cy@work.example"
    )
    cy = {p["name"]: p for p in harness.ok("contacts", "list", "--json").json()}["Cy"]
    assert cy["org"] == "Cyco" and cy["emails"] == ["cy@c.example", "cy@work.example"]
    harness.ok("contacts", "delete", str(cy["id"]))
    assert [p["name"] for p in harness.ok("contacts", "list", "--json").json()] == ["Ann"]
    (folder / "orgs.csv").write_text("name,domains\nBeta,beta.example;b.example\n")
    harness.ok("orgs", "import", str(folder / "orgs.csv"))
    orgs = {o["name"]: o for o in harness.ok("orgs", "list", "--json").json()}
    assert orgs["Beta"]["domains"] == ["b.example", "beta.example"]
    (folder / "deals.csv").write_text(
        "title,value,status,person_email,organisation\nBig,100.5,open,ann@a.example,Alpha\n"
    )
    harness.ok("deals", "import", str(folder / "deals.csv"))
    deal = harness.ok("deals", "list", "--json").json()[0]
    assert (deal["title"], deal["value"], deal["status"]) == ("Big", "100.50", "open")
    bad = harness.cli("deals", "add", "Neg", "--value", "-3")
    assert bad.code == 1 and "negative" in bad.err


def test_a_colleague_never_sees_the_name_of_an_owner_only_contact(
    harness: Harness, dovecot: DovecotServer, mailbox: str
) -> None:
    harness.ok("users", "add", "seller@crm.example")
    harness.ok("users", "add", "colleague@crm.example")
    harness.ok("contacts", "add", "bob@acme.example", "--name", "Bob")
    harness.ok(
        "contacts",
        "add",
        "x@secret.example",
        "--name",
        "Secret Source",
        "--owner",
        "seller@crm.example",
        "--visibility",
        "owner",
    )
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Both", cc="x@secret.example"),
        internaldate=NOW - DAY,
    )
    account = synced(harness, dovecot, mailbox)
    message = by_subject(harness, account)["Both"]
    harness.ok(
        "threads", "share", str(message["thread_id"]), "shared", "--user", "seller@crm.example"
    )
    assert [c["name"] for c in message["contacts"]] == ["Bob", "Secret Source"]
    seen = harness.ok("threads", "list", "--user", "colleague@crm.example", "--json").json()
    assert [p["name"] for p in seen[0]["persons"]] == ["Bob"]
    as_colleague = by_subject(harness, account, "colleague@crm.example")["Both"]
    assert [c["name"] for c in as_colleague["contacts"]] == ["Bob"]
    why = harness.ok("messages", "why", str(message["id"]), "--user", "colleague@crm.example")
    assert "Secret" not in why.out


def test_bad_crm_input_is_refused_with_a_sentence(harness: Harness) -> None:
    for args, words in [
        (("deals", "add", "X", "--value", "NaN"), "not an amount"),
        (("deals", "add", "X", "--value", "1e30"), "at most"),
        (("deals", "add", "X", "--currency", "usdollars"), "three-letter"),
        (("deals", "add", "  "), "needs a title"),
    ]:
        result = harness.cli(*args)
        assert result.code == 1 and words in result.err, (args, result.err)
        assert "Traceback" not in result.err
    harness.ok("deals", "add", "Real")
    assert harness.cli("deals", "update", "1", "--title", " ").code == 1
    harness.ok("deals", "update", "1")  # nothing to change is not an error


def test_adding_domains_keeps_an_organisations_owner_and_visibility(harness: Harness) -> None:
    harness.ok("users", "add", "seller@crm.example")
    harness.ok("orgs", "add", "Acme", "--owner", "seller@crm.example", "--visibility", "owner")
    harness.ok("orgs", "add", "Acme", "--domain", "acme.example")
    org = harness.ok("orgs", "list", "--json").json()[0]
    assert (org["visibility"], org["domains"]) == ("owner", ["acme.example"])
    assert org["owner_user_id"] is not None


# -- the rules of services/crm.py, held by the API and the command line alike ---------------


@pytest.fixture
def crm_engine(harness: Harness) -> Iterator[sa.Engine]:
    """The harness's store (SQLite, then PostgreSQL), for calling services directly."""
    engine = open_database(Settings.from_environment())
    yield engine
    engine.dispose()


def test_an_address_of_a_contact_the_caller_cannot_see_is_refused_and_never_merged(
    crm_engine: sa.Engine,
) -> None:
    ann = users.add_user(crm_engine, "ann@crm.example")
    ben = users.add_user(crm_engine, "ben@crm.example")
    hidden, _ = crm.add_person(
        crm_engine,
        ann.id,
        ["x@secret.example"],
        "Secret Source",
        owner_user_id=ann.id,
        visibility=Visibility.OWNER,
    )
    for merge in (False, True):
        with pytest.raises(Conflict) as refused:
            crm.add_person(
                crm_engine,
                ben.id,
                ["new@other.example", "x@secret.example"],
                "Ben's guess",
                owner_user_id=ben.id,
                merge=merge,
            )
        assert (
            str(refused.value) == "The address x@secret.example belongs to a contact you cannot see"
        )
    kept = crm.get_person(crm_engine, crm.OPERATOR, hidden.person.id).person
    assert (kept.name, kept.emails) == ("Secret Source", ("x@secret.example",))
    assert crm.find_person_by_email(crm_engine, crm.OPERATOR, "new@other.example") is None


def test_the_operator_and_a_caller_who_sees_the_contact_may_merge_into_it(
    crm_engine: sa.Engine,
) -> None:
    ann = users.add_user(crm_engine, "ann@crm.example")
    made, _ = crm.add_person(
        crm_engine, ann.id, ["x@secret.example"], "Source", owner_user_id=ann.id,
        visibility=Visibility.OWNER,
    )  # fmt: skip
    with pytest.raises(Conflict, match=f"belongs to contact {made.person.id} already"):
        crm.add_person(crm_engine, ann.id, ["x@secret.example"], owner_user_id=ann.id)
    merged, _ = crm.add_person(
        crm_engine,
        crm.OPERATOR,
        ["x@secret.example", "x2@secret.example"],
        owner_user_id=None,
        merge=True,
    )
    assert merged.person.id == made.person.id
    assert merged.person.emails == ("x2@secret.example", "x@secret.example")
    assert (merged.person.owner_user_id, merged.person.visibility) == (ann.id, "owner")


def test_a_deals_import_with_a_bad_row_keeps_none_of_it(
    crm_engine: sa.Engine, tmp_path: Path
) -> None:
    crm.add_person(crm_engine, crm.OPERATOR, ["ann@a.example"], "Ann", owner_user_id=None)
    deals_csv = tmp_path / "deals.csv"
    deals_csv.write_text(
        "title,value,status,person_email,organisation\n"
        "Big,100.5,open,ann@a.example,Alpha\n"
        "Lost,1,open,nobody@a.example,Beta\n"
    )
    with pytest.raises(UsageError, match=r"row 2: no contact has the address nobody@a\.example"):
        crm.import_deals_csv(crm_engine, deals_csv)
    assert crm.list_deals(crm_engine, crm.OPERATOR) == []
    assert crm.list_organisations(crm_engine, crm.OPERATOR) == []
