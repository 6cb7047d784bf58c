"""The audited, permission-checked REST API under ``/api/v1/``.

Every view derives from ``dmvault.api.audit.AuditedAPIView``: it declares the capability it
needs (``accounts.roles`` is the one permission matrix; a view without one is refused), and
each request writes exactly one audit event before its response is released (fail closed).
"""
