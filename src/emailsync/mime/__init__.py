"""Bytes → domain values: MIME parsing with the stdlib `email` package (see `parse`)."""

from emailsync.mime.addresses import parse_address_header
from emailsync.mime.parse import parse_header_summary, parse_message

__all__ = ["parse_address_header", "parse_header_summary", "parse_message"]
