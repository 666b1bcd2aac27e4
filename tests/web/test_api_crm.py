"""The CRM API (web/api/crm.py, web/api/threads.py): persons, organisations, deals,
thread links, split and why, with authentication, bad input as sentences, and the
privacy rule.

Mail is written straight through the store (store.messages.write_batch), as the
threading tests do: no IMAP server is needed here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from emailsync.config import Settings
from emailsync.domain.model import Address, FetchedMessage, ParsedMessage, Participants
from emailsync.services import users as auth
from emailsync.store import messages as message_store
from emailsync.store.db import open_database
from emailsync.store.raw import raw_digest
from emailsync.store.tables import accounts, folders, messages
from support.web import Site, csrf_of

T0 = datetime.now(UTC) - timedelta(days=10)


@pytest.fixture
def crm_site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Site]:
    """Like conftest's `site`, without the Dovecot these tests do not need."""
    monkeypatch.setenv("EMAILSYNC_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("EMAILSYNC_SECRET_KEYS", raising=False)
    monkeypatch.delenv("EMAILSYNC_DATABASE_URL", raising=False)
    settings = Settings.from_environment()
    engine = open_database(settings)
    yield Site(settings, engine)
    engine.dispose()


def api(site: Site, email: str) -> tuple[TestClient, int]:
    """A client authenticated with a bearer token, and its user's id."""
    user = site.user(email)
    client = site.client()
    client.headers["Authorization"] = "Bearer " + auth.create_api_token(site.engine, user.id, "t")
    return client, user.id


def seed_mail(
    site: Site, user_id: int, mails: list[dict], *, sharing: str = "private"
) -> dict[str, int]:
    """Store messages in a new account of the user; returns Message-ID → message pk.
    Each mail: id, sender, to (list), subject, days (after T0), refs (Message-IDs)."""
    own = f"user{user_id}@crm.example"
    with site.engine.begin() as conn:
        account_id = conn.execute(
            accounts.insert().values(
                user_id=user_id,
                email=own,
                imap_host="imap.invalid",
                imap_port=993,
                imap_security="ssl",
                username=own,
                password_secret="",
                aliases=[],
                sync_from="3m",
                past_scope="all",
                folders=[],
                future_mode="selected",
                track_opens=True,
                track_links=True,
                default_sharing=sharing,
                state="active",
                created_at=T0,
            )
        ).inserted_primary_key[0]
        folder_id = conn.execute(
            folders.insert().values(account_id=account_id, name="INBOX")
        ).inserted_primary_key[0]
        for uid, m in enumerate(mails, start=1):
            when = T0 + timedelta(days=m.get("days", 0))
            parsed = ParsedMessage(
                message_id=m["id"],
                in_reply_to="",
                references=tuple(m.get("refs", ())),
                date=when,
                subject=m.get("subject", "Quote"),
                participants=Participants(
                    from_=(Address(m.get("sender", own)),),
                    to=tuple(Address(e) for e in m.get("to", [own])),
                ),
                text_body="hello",
                html_body="",
                attachments=(),
                defects=(),
            )
            message_store.write_batch(
                conn,
                account_id=account_id,
                folder_id=folder_id,
                new_messages=[
                    message_store.NewMessage(
                        key=f"<{m['id']}>",
                        fetched=FetchedMessage(
                            uid=uid, internaldate=when, flags=(), size=10, raw=b"x"
                        ),
                        parsed=parsed,
                        direction="received",
                        digest=raw_digest(b"x"),
                    )
                ],
                new_locations=[],
                cursor=uid,
                default_sharing=sharing,
            )
        rows = conn.execute(
            sa.select(messages.c.message_id, messages.c.id).where(
                messages.c.account_id == account_id
            )
        ).all()
    return {r.message_id: r.id for r in rows}


def thread_of(site: Site, message_pk: int) -> int:
    with site.engine.connect() as conn:
        return conn.execute(
            sa.select(messages.c.thread_id).where(messages.c.id == message_pk)
        ).scalar_one()


def bob_thread(site: Site, user_id: int, *, sharing: str = "private") -> tuple[int, list[int]]:
    """A thread of three messages with bob@acme.example: (thread id, message pks)."""
    ids = seed_mail(
        site,
        user_id,
        [
            {"id": "a@x", "sender": "bob@acme.example"},
            {"id": "b@x", "to": ["bob@acme.example"], "refs": ["a@x"], "days": 1},
            {"id": "c@x", "sender": "bob@acme.example", "refs": ["a@x", "b@x"], "days": 2},
        ],
        sharing=sharing,
    )
    pks = [ids["a@x"], ids["b@x"], ids["c@x"]]
    assert len({thread_of(site, p) for p in pks}) == 1
    return thread_of(site, pks[0]), pks


# -- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/persons"),
        ("POST", "/api/v1/persons"),
        ("GET", "/api/v1/persons/1"),
        ("PATCH", "/api/v1/persons/1"),
        ("DELETE", "/api/v1/persons/1"),
        ("GET", "/api/v1/organisations"),
        ("POST", "/api/v1/organisations"),
        ("PATCH", "/api/v1/organisations/1"),
        ("DELETE", "/api/v1/organisations/1"),
        ("GET", "/api/v1/deals"),
        ("POST", "/api/v1/deals"),
        ("PATCH", "/api/v1/deals/1"),
        ("DELETE", "/api/v1/deals/1"),
        ("GET", "/api/v1/threads/1/links"),
        ("POST", "/api/v1/threads/1/links"),
        ("DELETE", "/api/v1/threads/1/links/person/1"),
        ("POST", "/api/v1/threads/1/split"),
        ("GET", "/api/v1/messages/1/why"),
    ],
)
def test_every_crm_route_answers_401_with_a_sentence_without_credentials(
    crm_site: Site, method: str, path: str
) -> None:
    response = crm_site.client().request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Sign in or send an API token")
    bad = crm_site.client().request(
        method, path, json={}, headers={"Authorization": "Bearer es_nope"}
    )
    assert bad.status_code == 401 and bad.json() == {"detail": "This API token is not valid"}


def test_changes_from_a_session_need_the_csrf_header(crm_site: Site) -> None:
    client, _ = crm_site.signed_in("ann@crm.example")
    body = {"name": "Bob", "emails": ["bob@acme.example"]}
    refused = client.post("/api/v1/persons", json=body)
    assert refused.status_code == 403 and "expired" in refused.json()["detail"]
    token = csrf_of(client, "/settings/email-sync")
    made = client.post("/api/v1/persons", json=body, headers={"X-CSRF-Token": token})
    assert made.status_code == 201, made.text
    assert client.get("/api/v1/persons").json()[0]["name"] == "Bob"


def test_the_openapi_schema_lists_the_crm_routes(crm_site: Site) -> None:
    paths = crm_site.client().get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/persons/{person_id}",
        "/api/v1/organisations/{org_id}",
        "/api/v1/deals/{deal_id}",
        "/api/v1/threads/{thread_id}/links/{kind}/{target_id}",
        "/api/v1/threads/{thread_id}/split",
        "/api/v1/messages/{message_id}/why",
    ):
        assert path in paths


# -- persons ------------------------------------------------------------------------------


def test_persons_create_read_change_delete(crm_site: Site) -> None:
    client, ann = api(crm_site, "ann@crm.example")
    made = client.post(
        "/api/v1/persons",
        json={
            "name": "Bob",
            "emails": ["Bob@Acme.example", "bob@acme.example"],
            "organisation": "Acme",
        },
    )
    assert made.status_code == 201, made.text
    bob = made.json()
    assert bob["emails"] == ["bob@acme.example"] and bob["owner_user_id"] == ann
    assert bob["organisation"] == "Acme" and bob["visibility"] == "company"
    org = client.get(f"/api/v1/organisations/{bob['organisation_id']}").json()
    assert org["owner_user_id"] == ann  # the new organisation is the caller's too
    assert client.get("/api/v1/persons").json() == [bob]
    assert client.get(f"/api/v1/persons/{bob['id']}").json() == bob

    changed = client.patch(
        f"/api/v1/persons/{bob['id']}",
        json={"name": "Robert", "add_emails": ["rob@home.example"], "organisation": ""},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Robert"
    assert changed.json()["emails"] == ["bob@acme.example", "rob@home.example"]
    assert changed.json()["organisation"] is None

    assert client.delete(f"/api/v1/persons/{bob['id']}").status_code == 204
    gone = client.get(f"/api/v1/persons/{bob['id']}")
    assert gone.status_code == 404
    assert gone.json() == {"detail": f"There is no contact {bob['id']} you can see"}


def test_persons_bad_input_is_a_sentence(crm_site: Site) -> None:
    client, _ = api(crm_site, "ann@crm.example")
    none = client.post("/api/v1/persons", json={"name": "Bob", "emails": []})
    assert none.status_code == 422 and none.json()["detail"].startswith("emails:")
    bad = client.post("/api/v1/persons", json={"emails": ["not an address"]})
    assert bad.status_code == 400
    assert bad.json() == {"detail": "'not an address' is not an email address"}
    vis = client.post("/api/v1/persons", json={"emails": ["a@b.example"], "visibility": "team"})
    assert vis.status_code == 422 and vis.json()["detail"].startswith("visibility:")
    extra = client.post("/api/v1/persons", json={"emails": ["a@b.example"], "colour": "red"})
    assert extra.status_code == 422 and extra.json()["detail"].startswith("colour:")
    first = client.post("/api/v1/persons", json={"emails": ["a@b.example"]}).json()
    again = client.post("/api/v1/persons", json={"emails": ["A@b.example"]})
    assert again.status_code == 409
    assert f"belongs to contact {first['id']} already" in again.json()["detail"]
    assert client.patch("/api/v1/persons/999", json={"name": "x"}).status_code == 404
    assert client.get("/api/v1/persons/abc").status_code == 422


def test_an_owner_only_person_is_invisible_to_a_colleague(crm_site: Site) -> None:
    ann_client, _ = api(crm_site, "ann@crm.example")
    ben_client, _ = api(crm_site, "ben@crm.example")
    secret = ann_client.post(
        "/api/v1/persons",
        json={"name": "Secret", "emails": ["s@x.example"], "visibility": "owner"},
    ).json()
    open_ = ann_client.post("/api/v1/persons", json={"emails": ["o@x.example"]}).json()
    assert [p["id"] for p in ben_client.get("/api/v1/persons").json()] == [open_["id"]]
    path = f"/api/v1/persons/{secret['id']}"
    for response in (
        ben_client.get(path),
        ben_client.patch(path, json={"name": "Mine now"}),
        ben_client.delete(path),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": f"There is no contact {secret['id']} you can see"}
    taken = ben_client.post("/api/v1/persons", json={"emails": ["s@x.example"]})
    assert taken.status_code == 409 and "Secret" not in taken.text
    assert ann_client.get(path).json()["name"] == "Secret"
    # a colleague may edit a company record, but not change who sees it
    hide = ben_client.patch(f"/api/v1/persons/{open_['id']}", json={"visibility": "owner"})
    assert hide.status_code == 400
    assert hide.json() == {
        "detail": f"Only the owner of contact {open_['id']} can change who sees it"
    }
    assert (
        ben_client.patch(f"/api/v1/persons/{open_['id']}", json={"name": "Olga"}).json()["name"]
        == "Olga"
    )


# -- organisations --------------------------------------------------------------------------


def test_organisations_create_read_change_delete(crm_site: Site) -> None:
    client, ann = api(crm_site, "ann@crm.example")
    made = client.post("/api/v1/organisations", json={"name": "Acme", "domains": ["ACME.example."]})
    assert made.status_code == 201, made.text
    acme = made.json()
    assert acme["domains"] == ["acme.example"] and acme["owner_user_id"] == ann
    assert client.get("/api/v1/organisations").json() == [acme]
    more = client.patch(
        f"/api/v1/organisations/{acme['id']}",
        json={"add_domains": ["acme.test"], "visibility": "owner"},
    ).json()
    assert more["domains"] == ["acme.example", "acme.test"]
    assert more["visibility"] == "owner" and more["owner_user_id"] == ann
    assert client.get(f"/api/v1/organisations/{acme['id']}").json() == more
    assert client.delete(f"/api/v1/organisations/{acme['id']}").status_code == 204
    assert client.get(f"/api/v1/organisations/{acme['id']}").status_code == 404


def test_organisations_bad_input_is_a_sentence(crm_site: Site) -> None:
    client, _ = api(crm_site, "ann@crm.example")
    assert client.post("/api/v1/organisations", json={"name": ""}).status_code == 422
    blank = client.post("/api/v1/organisations", json={"name": "   "})
    assert blank.status_code == 400 and blank.json() == {"detail": "An organisation needs a name"}
    bad = client.post("/api/v1/organisations", json={"name": "A", "domains": ["a b"]})
    assert bad.status_code == 400 and bad.json() == {"detail": "'a b' is not a domain"}
    acme = client.post("/api/v1/organisations", json={"name": "Acme", "domains": ["acme.example"]})
    twice = client.post("/api/v1/organisations", json={"name": "ACME"})
    assert twice.status_code == 409 and "exists already" in twice.json()["detail"]
    other = client.post(
        "/api/v1/organisations", json={"name": "Other", "domains": ["acme.example"]}
    )
    assert other.status_code == 400
    assert other.json() == {
        "detail": "The domain acme.example belongs to another organisation already"
    }
    rename = client.patch(f"/api/v1/organisations/{acme.json()['id']}", json={"name": "X"})
    assert rename.status_code == 422 and rename.json()["detail"].startswith("name:")


def test_an_owner_only_organisation_is_invisible_to_a_colleague(crm_site: Site) -> None:
    ann_client, ann = api(crm_site, "ann@crm.example")
    ben_client, _ = api(crm_site, "ben@crm.example")
    org = ann_client.post(
        "/api/v1/organisations", json={"name": "Hidden", "visibility": "owner"}
    ).json()
    assert ben_client.get("/api/v1/organisations").json() == []
    path = f"/api/v1/organisations/{org['id']}"
    assert ben_client.get(path).status_code == 404
    assert ben_client.patch(path, json={"add_domains": ["h.example"]}).status_code == 404
    assert ben_client.delete(path).status_code == 404
    # its name cannot be taken over, and a colleague's person is not put at it
    assert ben_client.post("/api/v1/organisations", json={"name": "hidden"}).status_code == 409
    person = ben_client.post(
        "/api/v1/persons", json={"emails": ["p@h.example"], "organisation": "Hidden"}
    )
    assert person.status_code == 400 and "cannot see" in person.json()["detail"]
    assert ann_client.get(path).json()["owner_user_id"] == ann


# -- deals ----------------------------------------------------------------------------------


def test_deals_create_read_change_delete(crm_site: Site) -> None:
    client, ann = api(crm_site, "ann@crm.example")
    bob = client.post(
        "/api/v1/persons", json={"emails": ["bob@acme.example"], "organisation": "Acme"}
    ).json()
    made = client.post(
        "/api/v1/deals",
        json={"title": " Roof ", "value": "1250.5", "currency": "usd", "person_id": bob["id"]},
    )
    assert made.status_code == 201, made.text
    deal = made.json()
    assert deal["title"] == "Roof" and deal["value"] == "1250.50" and deal["currency"] == "USD"
    assert deal["status"] == "open" and deal["owner_user_id"] == ann
    assert deal["organisation_id"] == bob["organisation_id"]  # the person's organisation
    assert client.get("/api/v1/deals").json() == [deal]
    won = client.patch(f"/api/v1/deals/{deal['id']}", json={"status": "won", "value": 2000})
    assert won.status_code == 200, won.text
    assert won.json()["status"] == "won" and won.json()["value"] == "2000.00"
    assert client.get(f"/api/v1/deals/{deal['id']}").json() == won.json()
    assert client.delete(f"/api/v1/deals/{deal['id']}").status_code == 204
    assert client.get(f"/api/v1/deals/{deal['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "start"),
    [
        ({"title": "X", "value": "abc"}, 422, "value:"),
        ({"title": "X", "value": "NaN"}, 422, "value:"),
        ({"title": "X", "value": "-5"}, 422, "value:"),
        ({"title": "X", "value": "1e30"}, 422, "value:"),
        ({"title": "X", "value": "1.234"}, 422, "value:"),
        ({"title": "X", "value": 1.5}, 422, "value:"),
        ({"title": "   "}, 422, "title:"),
        ({"title": "X", "status": "closed"}, 422, "status:"),
        ({"title": "X", "currency": "EURO"}, 422, "currency:"),
        ({"title": "X", "person_id": 999}, 400, "There is no contact 999"),
        ({"title": "X", "organisation_id": 999}, 400, "There is no organisation 999"),
    ],
)
def test_deals_bad_input_is_a_sentence(crm_site: Site, body: dict, status: int, start: str) -> None:
    client, _ = api(crm_site, "ann@crm.example")
    response = client.post("/api/v1/deals", json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(start)
    assert client.get("/api/v1/deals").json() == []


def test_deals_respect_privacy(crm_site: Site) -> None:
    ann_client, _ = api(crm_site, "ann@crm.example")
    ben_client, _ = api(crm_site, "ben@crm.example")
    secret = ann_client.post(
        "/api/v1/persons", json={"emails": ["s@x.example"], "visibility": "owner"}
    ).json()
    deal = ann_client.post("/api/v1/deals", json={"title": "Mine", "visibility": "owner"}).json()
    assert ben_client.get("/api/v1/deals").json() == []
    assert ben_client.get(f"/api/v1/deals/{deal['id']}").status_code == 404
    assert (
        ben_client.patch(f"/api/v1/deals/{deal['id']}", json={"status": "won"}).status_code == 404
    )
    assert ben_client.delete(f"/api/v1/deals/{deal['id']}").status_code == 404
    # a colleague's deal cannot point at a person they cannot see (same words as a missing one)
    pointed = ben_client.post("/api/v1/deals", json={"title": "T", "person_id": secret["id"]})
    assert pointed.status_code == 400
    assert pointed.json() == {"detail": f"There is no contact {secret['id']} you can see"}
    clear = ann_client.patch(f"/api/v1/deals/{deal['id']}", json={"person_id": None})
    assert clear.status_code == 400 and "cannot be removed" in clear.json()["detail"]


# -- linking ---------------------------------------------------------------------------------


def test_adding_a_contact_and_a_deal_links_mail_already_synced(crm_site: Site) -> None:
    client, ann = api(crm_site, "ann@crm.example")
    thread_id, pks = bob_thread(crm_site, ann)
    assert client.get(f"/api/v1/threads/{thread_id}/links").json() == {
        "thread_id": thread_id,
        "persons": [],
        "organisations": [],
        "deal": None,
    }
    bob = client.post("/api/v1/persons", json={"name": "Bob", "emails": ["bob@acme.example"]})
    links = client.get(f"/api/v1/threads/{thread_id}/links").json()
    assert [p["id"] for p in links["persons"]] == [bob.json()["id"]]
    assert links["persons"][0]["reason"] == "bob@acme.example (From) is Bob"
    deal = client.post(
        "/api/v1/deals", json={"title": "Roof", "person_id": bob.json()["id"]}
    ).json()
    links = client.get(f"/api/v1/threads/{thread_id}/links").json()
    assert links["deal"]["id"] == deal["id"] and not links["deal"]["manual"]
    assert "whose only open deal is 'Roof'" in links["deal"]["reason"]
    why = client.get(f"/api/v1/messages/{pks[0]}/why")
    assert why.status_code == 200
    assert why.json() == [
        f"thread {thread_id}",
        "person Bob: bob@acme.example (From) is Bob",
        "deal Roof: bob@acme.example (From) is Bob, whose only open deal is 'Roof'",
    ]


def test_a_deal_changed_to_a_person_links_their_mail(crm_site: Site) -> None:
    client, ann = api(crm_site, "ann@crm.example")
    thread_id, _ = bob_thread(crm_site, ann)
    bob = client.post("/api/v1/persons", json={"emails": ["bob@acme.example"]}).json()
    deal = client.post("/api/v1/deals", json={"title": "Roof"}).json()
    assert client.get(f"/api/v1/threads/{thread_id}/links").json()["deal"] is None
    client.patch(f"/api/v1/deals/{deal['id']}", json={"person_id": bob["id"]})
    assert client.get(f"/api/v1/threads/{thread_id}/links").json()["deal"]["id"] == deal["id"]


def test_linking_and_unlinking_by_hand(crm_site: Site) -> None:
    client, ann = api(crm_site, "ann@crm.example")
    thread_id, _ = bob_thread(crm_site, ann)
    bob = client.post("/api/v1/persons", json={"emails": ["bob@acme.example"]}).json()
    org = client.post("/api/v1/organisations", json={"name": "Other"}).json()
    deal = client.post("/api/v1/deals", json={"title": "Manual"}).json()
    linked = client.post(
        f"/api/v1/threads/{thread_id}/links", json={"kind": "organisation", "id": org["id"]}
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["organisations"] == [
        {
            "kind": "organisation",
            "id": org["id"],
            "name": "Other",
            "reason": "linked by hand",
            "manual": True,
        }
    ]
    on_deal = client.post(
        f"/api/v1/threads/{thread_id}/links", json={"kind": "deal", "id": deal["id"]}
    )
    assert on_deal.json()["deal"]["id"] == deal["id"] and on_deal.json()["deal"]["manual"]

    wrong = client.delete(f"/api/v1/threads/{thread_id}/links/deal/{deal['id'] + 1}")
    assert wrong.status_code == 400
    assert wrong.json() == {"detail": f"Conversation {thread_id} is not on deal {deal['id'] + 1}"}
    for kind, target in (("person", bob["id"]), ("organisation", org["id"]), ("deal", deal["id"])):
        assert (
            client.delete(f"/api/v1/threads/{thread_id}/links/{kind}/{target}").status_code == 204
        )
    assert client.get(f"/api/v1/threads/{thread_id}/links").json() == {
        "thread_id": thread_id,
        "persons": [],
        "organisations": [],
        "deal": None,
    }


def test_linking_bad_input_is_a_sentence(crm_site: Site) -> None:
    client, ann = api(crm_site, "ann@crm.example")
    thread_id, _ = bob_thread(crm_site, ann)
    kind = client.post(f"/api/v1/threads/{thread_id}/links", json={"kind": "team", "id": 1})
    assert kind.status_code == 422 and kind.json()["detail"].startswith("kind:")
    missing = client.post(f"/api/v1/threads/{thread_id}/links", json={"kind": "deal", "id": 42})
    assert missing.status_code == 400
    assert missing.json() == {"detail": "There is no deal 42 you can see"}
    bad_path = client.delete(f"/api/v1/threads/{thread_id}/links/team/1")
    assert bad_path.status_code == 422 and bad_path.json()["detail"].startswith("kind:")
    nothing = client.post("/api/v1/threads/9999/links", json={"kind": "deal", "id": 42})
    assert nothing.status_code == 404
    assert nothing.json() == {"detail": "There is no conversation 9999 you can open"}


def test_a_colleague_cannot_link_or_split_another_users_thread(crm_site: Site) -> None:
    ann_client, ann = api(crm_site, "ann@crm.example")
    ben_client, _ = api(crm_site, "ben@crm.example")
    private_id, private_pks = bob_thread(crm_site, ann)
    ann_client.post("/api/v1/persons", json={"emails": ["bob@acme.example"]})
    org = ben_client.post("/api/v1/organisations", json={"name": "Ben's"}).json()
    link = {"kind": "organisation", "id": org["id"]}
    # a private thread: it does not exist for the colleague
    for response in (
        ben_client.get(f"/api/v1/threads/{private_id}/links"),
        ben_client.post(f"/api/v1/threads/{private_id}/links", json=link),
        ben_client.delete(f"/api/v1/threads/{private_id}/links/person/1"),
        ben_client.post(
            f"/api/v1/threads/{private_id}/split", json={"message_ids": private_pks[:1]}
        ),
        ben_client.get(f"/api/v1/messages/{private_pks[0]}/why"),
    ):
        assert response.status_code == 404, response.text
    # a shared thread linked to a company contact: seen, but only its owner changes it
    ann_client.put(f"/api/v1/threads/{private_id}/sharing", json={"sharing": "shared"})
    assert ben_client.get(f"/api/v1/threads/{private_id}/links").status_code == 200
    assert ben_client.get(f"/api/v1/messages/{private_pks[0]}/why").status_code == 200
    owner_only = f"Only the owner of conversation {private_id} can change it"
    for response in (
        ben_client.post(f"/api/v1/threads/{private_id}/links", json=link),
        ben_client.delete(f"/api/v1/threads/{private_id}/links/person/1"),
        ben_client.post(
            f"/api/v1/threads/{private_id}/split", json={"message_ids": private_pks[:1]}
        ),
    ):
        assert response.status_code == 400 and response.json() == {"detail": owner_only}
    assert ann_client.get(f"/api/v1/threads/{private_id}/links").json()["organisations"] == []


def test_link_reasons_never_name_a_record_the_caller_cannot_see(crm_site: Site) -> None:
    ann_client, ann = api(crm_site, "ann@crm.example")
    ben_client, _ = api(crm_site, "ben@crm.example")
    thread_id, pks = bob_thread(crm_site, ann)
    # Ben keeps Bob as a private contact; Ann's own thread with Bob must not reveal it
    ben_client.post(
        "/api/v1/persons",
        json={"name": "Bob Secret", "emails": ["bob@acme.example"], "visibility": "owner"},
    )
    links = ann_client.get(f"/api/v1/threads/{thread_id}/links").json()
    assert links["persons"] == []
    why = ann_client.get(f"/api/v1/messages/{pks[0]}/why").json()
    assert why[0] == f"thread {thread_id}" and why[1].startswith("no links you can see")
    assert "Secret" not in str(why)
    linked = ann_client.post(f"/api/v1/threads/{thread_id}/links", json={"kind": "person", "id": 1})
    assert linked.status_code == 400 and "you can see" in linked.json()["detail"]


# -- split and why -------------------------------------------------------------------------


def test_splitting_a_thread(crm_site: Site) -> None:
    client, ann = api(crm_site, "ann@crm.example")
    thread_id, pks = bob_thread(crm_site, ann)
    split = client.post(
        f"/api/v1/threads/{thread_id}/split", json={"message_ids": [pks[2], pks[2]]}
    )
    assert split.status_code == 201, split.text
    new_id = split.json()["thread_id"]
    assert split.json() == {"thread_id": new_id, "from_thread_id": thread_id, "moved": 1}
    assert new_id != thread_id and thread_of(crm_site, pks[2]) == new_id
    assert thread_of(crm_site, pks[0]) == thread_id == thread_of(crm_site, pks[1])
    assert client.get(f"/api/v1/threads/{new_id}").json()["message_count"] == 1
    assert client.get(f"/api/v1/threads/{thread_id}").json()["message_count"] == 2


def test_splitting_bad_input_is_a_sentence(crm_site: Site) -> None:
    client, ann = api(crm_site, "ann@crm.example")
    thread_id, pks = bob_thread(crm_site, ann)
    empty = client.post(f"/api/v1/threads/{thread_id}/split", json={"message_ids": []})
    assert empty.status_code == 422 and empty.json()["detail"].startswith("message_ids:")
    stranger = client.post(f"/api/v1/threads/{thread_id}/split", json={"message_ids": [9999]})
    assert stranger.status_code == 400
    assert stranger.json()["detail"].startswith(f"Message 9999 is not in conversation {thread_id}")
    everything = client.post(f"/api/v1/threads/{thread_id}/split", json={"message_ids": pks})
    assert everything.status_code == 400
    assert everything.json() == {
        "detail": f"Leave at least one message in conversation {thread_id}"
    }
    assert thread_of(crm_site, pks[2]) == thread_id


def test_why_of_a_message_without_links_and_of_a_missing_one(crm_site: Site) -> None:
    client, ann = api(crm_site, "ann@crm.example")
    thread_id, pks = bob_thread(crm_site, ann)
    assert client.get(f"/api/v1/messages/{pks[1]}/why").json() == [
        f"thread {thread_id}",
        "no links you can see: no participant is a CRM contact you can see, "
        "nor at the domain of such an organisation",
    ]
    missing = client.get("/api/v1/messages/9999/why")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "There is no message 9999 you can open"}
    assert client.get("/api/v1/messages/abc/why").status_code == 422


def test_an_empty_change_leaves_each_record_as_it_was(crm_site: Site) -> None:
    client, _ = api(crm_site, "ann@crm.example")
    for path, body in (
        ("/api/v1/persons", {"emails": ["a@b.example"]}),
        ("/api/v1/organisations", {"name": "Acme"}),
        ("/api/v1/deals", {"title": "Roof"}),
    ):
        made = client.post(path, json=body).json()
        same = client.patch(f"{path}/{made['id']}", json={})
        assert same.status_code == 200, same.text
        assert same.json() == made
