"""The only layer that joins IMAP, MIME parsing and the store."""
