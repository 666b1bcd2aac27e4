"""REST API under /api/v1: everything the pages do, as JSON (OpenAPI at
/api/v1/openapi.json). Bearer token or session; other users' records answer 404.

    schemas.py    the JSON shapes and their conversions from services' values
    accounts.py   email accounts: connect, conditions, progress, pause, remove
    threads.py    threads, messages, attachments, sharing; a thread's links and splits
    crm.py        persons, organisations, deals

The routes are thin: services/ holds the rules and the transactions. Errors are a 4xx
with {"detail": "a sentence"} through the app's handlers (web/app.py): UsageError 400,
NotFound 404, Conflict 409, bad bodies 422.
"""
