"""cli.py builds only the parser of the group that runs: it must parse that group's
command lines exactly as the whole parser does, and `--help` must still list them all."""

from __future__ import annotations

import pytest

from emailsync.cli import GROUPS, _group_of, build_parser

COMMAND_LINES = [
    ["users", "add", "a@example.com", "--name", "A", "--password-stdin"],
    ["users", "list", "--json"],
    ["contacts", "add", "b@example.com", "--also", "c@example.com", "--visibility", "owner"],
    ["contacts", "update", "3", "--org", "Acme"],
    ["accounts", "add", "--user", "a@example.com", "--email", "m@example.com",
     "--imap", "imap.example.com:993", "--imap-security", "ssl", "--password-stdin"],
    ["accounts", "configure", "1", "--sync-from", "1m", "--no-track-opens"],
    ["accounts", "aliases", "1", "--add", "x@example.com", "--remove", "y@example.com"],
    ["sync", "1", "--once"],
    ["sync", "m@example.com", "--backfill-contact", "b@example.com"],
    ["messages", "list", "--account", "1", "--json"],
    ["messages", "why", "7", "--user", "a@example.com"],
    ["messages", "why-not", "<a@b>", "--account", "1", "--json"],
    ["orgs", "add", "Acme", "--domain", "acme.com"],
    ["deals", "update", "2", "--status", "won"],
    ["threads", "link", "4", "--user", "a@example.com", "--deal", "2"],
    ["threads", "share", "4", "shared", "--user", "a@example.com"],
    ["block", "add", "spam.example", "--user", "a@example.com", "--yes"],
    ["serve", "--port", "9000"],
]  # fmt: skip


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=lambda a: " ".join(a[:2]))
def test_a_groups_own_parser_reads_its_command_lines_as_the_whole_parser_does(
    argv: list[str],
) -> None:
    group = _group_of(argv)
    assert group == argv[0]
    assert build_parser(group).parse_args(argv) == build_parser().parse_args(argv)


def test_every_group_has_a_command_line_here_and_help_lists_them_all() -> None:
    assert {argv[0] for argv in COMMAND_LINES} == set(GROUPS)
    listed = build_parser().format_help()
    assert all(f"    {name}" in listed for name in GROUPS)


def test_an_unknown_first_word_gets_the_whole_parser() -> None:
    assert _group_of(["--help"]) is None
    assert _group_of(["nonsense", "list"]) is None
    assert _group_of([]) is None
