"""Use cases: the rules the CLI and the API both apply, each owning its transaction.

The front ends (web/, commands/) call these; these call store/ with a connection."""
