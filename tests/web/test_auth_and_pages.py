"""Signing in, sessions, CSRF, the login throttle and API tokens."""

from __future__ import annotations

from emailsync.services import users as auth
from support.web import PASSWORD, Site, csrf_of, sign_in


def test_pages_send_a_visitor_without_a_session_to_sign_in(site: Site) -> None:
    response = site.client().get("/settings/email-sync")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings/email-sync"


def test_sign_in_sets_an_httponly_samesite_session_cookie(site: Site) -> None:
    site.user("ann@crm.example")
    client = site.client()
    token = csrf_of(client)
    response = client.post(
        "/login", data={"email": "ann@crm.example", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/settings/email-sync").status_code == 200


def test_a_wrong_password_is_refused_with_a_sentence(site: Site) -> None:
    site.user("ann@crm.example")
    client = site.client()
    response = client.post(
        "/login",
        data={"email": "ann@crm.example", "password": "nope", "csrf_token": csrf_of(client)},
    )
    assert response.status_code == 400
    assert "do not match" in response.text


def test_login_is_throttled_after_five_failures_per_email_and_address(site: Site) -> None:
    site.user("ann@crm.example")
    client = site.client()
    token = csrf_of(client)
    for _ in range(5):
        client.post(
            "/login", data={"email": "ann@crm.example", "password": "x", "csrf_token": token}
        )
    response = client.post(
        "/login", data={"email": "ann@crm.example", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.text


def test_a_form_without_the_csrf_token_is_refused(site: Site) -> None:
    client, _ = site.signed_in("ann@crm.example")
    response = client.post("/logout", data={})
    assert response.status_code == 403
    assert "Traceback" not in response.text


def test_sign_in_itself_needs_the_csrf_token(site: Site) -> None:
    site.user("ann@crm.example")
    response = site.client().post("/login", data={"email": "ann@crm.example", "password": PASSWORD})
    assert response.status_code == 403


def test_sign_out_ends_the_session(site: Site) -> None:
    client, _ = site.signed_in("ann@crm.example")
    token = csrf_of(client, "/settings/email-sync")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/settings/email-sync").status_code == 303


def test_api_without_credentials_answers_401_with_a_sentence(site: Site) -> None:
    response = site.client().get("/api/v1/accounts")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Sign in or send an API token")


def test_api_accepts_a_bearer_token_and_stores_only_its_hash(site: Site) -> None:
    user = site.user("ann@crm.example")
    token = auth.create_api_token(site.engine, user.id, "script")
    client = site.client()
    response = client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json() == []
    with site.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM api_tokens").scalar_one()
    assert token not in stored and len(stored) == 64
    assert auth.user_for_token(site.engine, token).id == user.id  # type: ignore[union-attr]


def test_an_unknown_bearer_token_is_401(site: Site) -> None:
    response = site.client().get(
        "/api/v1/accounts", headers={"Authorization": "Bearer es_not-a-token"}
    )
    assert response.status_code == 401


def test_api_changes_from_a_session_need_the_csrf_header(site: Site) -> None:
    client, _ = site.signed_in("ann@crm.example")
    assert client.post("/api/v1/accounts/1/pause").status_code == 403


def test_passwords_are_argon2_hashed_and_verified() -> None:
    hashed = auth.hash_password("s3cret-words")
    assert hashed.startswith("$argon2id$")
    assert auth.verify_password(hashed, "s3cret-words")
    assert not auth.verify_password(hashed, "other")
    assert not auth.verify_password("garbage", "other")


def test_unknown_pages_render_an_error_page_without_traceback(site: Site) -> None:
    client, _ = site.signed_in("ann@crm.example")
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is no page at this address" in response.text


def test_openapi_schema_lists_the_api(site: Site) -> None:
    schema = site.client().get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    assert "/api/v1/accounts/{account_id}/conditions" in paths
    assert "/api/v1/threads/{thread_id}/sharing" in paths
    assert not any(p.startswith("/settings") for p in paths)


def test_sign_in_with_a_short_password_is_refused_when_setting_it(site: Site) -> None:
    user = site.user("ann@crm.example")
    import pytest

    from emailsync.errors import UsageError

    with pytest.raises(UsageError, match="at least 8"):
        auth.set_password(site.engine, user.id, "short")
    sign_in(site.client(), "ann@crm.example")
