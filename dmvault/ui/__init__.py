"""The review UI: server-rendered pages over the same permission matrix and audit log as the API."""
