"""emailsync: a self-hosted email sync engine for a CRM."""

__version__ = "0.1.0"
