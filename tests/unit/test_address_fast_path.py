"""The fast path for everyday address headers gives exactly the strict parser's answer."""

from hypothesis import given
from hypothesis import strategies as st

from emailsync.mime.addresses import _finish, _parse_simple, _parse_strict, parse_address_header

atom = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789!#$%&'*+/=?^_`{|}~-",
    min_size=1,
    max_size=8,
)
local = st.lists(atom, min_size=1, max_size=3).map(".".join)
label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
domain = st.lists(label, min_size=1, max_size=3).map(".".join)
address = st.builds(lambda lp, d: f"{lp}@{d}", local, domain)
name = st.lists(atom, min_size=1, max_size=3).map(" ".join)
quoted = st.text(alphabet="abcXYZ019 ,.@;:<>()[]'", max_size=12).map(lambda t: f'"{t}"')
entry = st.one_of(
    address,
    st.builds(lambda n, a: f"{n} <{a}>", name, address),
    st.builds(lambda n, a: f"{n} <{a}>", quoted, address),
)
# "=?" could open an encoded word: the fast path leaves such headers to the strict parser
header = st.lists(entry, min_size=1, max_size=4).map(", ".join).filter(lambda h: "=?" not in h)


@given(header)
def test_the_fast_path_agrees_with_the_rfc5322_parser(value: str) -> None:
    simple = _parse_simple(value)
    assert simple is not None
    assert _finish("To", simple, []) == _finish("To", *_parse_strict("To", value))


def test_anything_unusual_goes_to_the_strict_parser() -> None:
    for value in [
        '"Jo\\"nes" <bob@x.example>',
        "bob@x.example (Bob)",
        "=?utf-8?q?B=C3=B6b?= <b@x>",
        "Undisclosed recipients:;",
        "alice@example.org)<bob@example.org>",
        "Bøb <b@x.example>",
    ]:
        assert _parse_simple(value) is None, value


def test_the_cve_2023_27043_shape_is_still_refused() -> None:
    addresses, defects = parse_address_header("From", "alice@example.org)<bob@example.org>")
    assert addresses == ()
    assert defects
