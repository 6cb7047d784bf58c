"""DMVault redaction engine: PII / secret detectors, admin rules and redaction modes.

Pure Python (no Django imports) so it can run in workers, tests and tools alike.
"""

from .detectors import DEFAULT_REGIONS, PersonModel, Redactor
from .findings import ALL_TYPES, Finding, resolve_overlaps

__all__ = ["ALL_TYPES", "DEFAULT_REGIONS", "Finding", "PersonModel", "Redactor", "resolve_overlaps"]
