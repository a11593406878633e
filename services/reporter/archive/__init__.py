"""Optional PostgreSQL archive of every result and alert (``database.url``)."""
