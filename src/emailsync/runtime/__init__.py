"""Processes: the long-running worker loop. Only this layer waits, sleeps and retries."""
