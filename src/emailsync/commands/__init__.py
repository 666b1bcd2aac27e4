"""Command-line handlers by area; `emailsync.cli` builds the parser from their `register`."""
