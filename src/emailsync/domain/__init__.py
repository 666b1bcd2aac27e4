"""Pure domain logic: no sockets, no SQL, no third-party imports."""
