"""Blocked addresses: mail is screened only when everyone but the user is blocked."""

from emailsync.domain.blocking import is_blocked, normalize_pattern, screened_by_block

OWN = frozenset({"me@example.com"})


def test_patterns_are_addresses_or_domains() -> None:
    assert normalize_pattern("News@Shop.Example") == "news@shop.example"
    assert normalize_pattern("@Shop.Example") == "shop.example"
    assert normalize_pattern("*.shop.example") == "shop.example"
    assert normalize_pattern("not an address") == ""


def test_a_domain_covers_its_subdomains_but_not_look_alikes() -> None:
    blocked = frozenset({"shop.example"})
    assert is_blocked("a@shop.example", blocked)
    assert is_blocked("a@mail.shop.example", blocked)
    assert not is_blocked("a@notshop.example", blocked)


def test_mail_from_a_blocked_sender_to_me_is_screened() -> None:
    assert screened_by_block(
        ["news@shop.example", "me@example.com"], OWN, frozenset({"shop.example"})
    )


def test_a_blocked_address_beside_a_real_customer_does_not_screen_the_mail() -> None:
    """Unlike Pipedrive's sole-sender rule, a copied customer keeps the thread."""
    assert not screened_by_block(
        ["news@shop.example", "bob@acme.example", "me@example.com"],
        OWN,
        frozenset({"shop.example"}),
    )


def test_nothing_blocked_screens_nothing() -> None:
    assert not screened_by_block(["x@y.example"], OWN, frozenset())
