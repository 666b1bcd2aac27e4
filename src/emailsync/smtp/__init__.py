"""The SMTP edge: testing an account's outgoing-mail login (compose and send come later)."""
