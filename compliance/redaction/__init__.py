"""DMVault redaction engine: PII / secret detectors, admin rules and redaction modes.

Pure Python (no Django imports) so it can run in workers, tests and tools alike. The detectors
run compiled when ``make install`` could build them (:mod:`.core`), as plain Python otherwise.
"""

from . import core

core.load()  # before the import below: picks the compiled or the Python detectors module

from .detectors import DEFAULT_REGIONS, PersonModel, Redactor  # noqa: E402
from .findings import ALL_TYPES, Finding, resolve_overlaps  # noqa: E402

__all__ = ["ALL_TYPES", "DEFAULT_REGIONS", "Finding", "PersonModel", "Redactor", "resolve_overlaps"]
