"""Use cases: the rules the CLI and the web both apply, each owning its transactions."""
