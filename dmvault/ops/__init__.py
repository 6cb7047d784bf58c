"""Operations (issue 10): health and readiness probes, Prometheus metrics, JSON logs, a reliable
Redis broker for django-q2, encrypted backups that honour erasure (with the ledger replayed on
restore), and OpenID Connect single sign-on. See docs/OPERATIONS.md."""
