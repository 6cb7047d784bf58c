"""Which detector core runs: the compiled one when it was built from the current source.

``detectors.py`` is plain Python and always works. ``python -m compliance.redaction.build_core``
(run by ``make install``) compiles that same file with Cython into an extension module beside
it, which runs the detectors about 1.2 times faster; nothing is rewritten by hand, so both
cores find exactly the same spans (``tests/compliance/redaction/test_compiled_core.py``). (Two
character loops, ``_digit_runs`` and ``_words``, take a C path only when compiled, tested
``cython.compiled``, and the regex they replace otherwise; the tests compare both.)

Python imports an extension module in preference to the ``.py`` of the same name, so a core
compiled from an older ``detectors.py`` would silently run old rules after an edit. The build
therefore records the SHA-256 of the source it compiled, and :func:`load` imports the compiled
core only when that record matches the current source; otherwise it loads ``detectors.py``
itself and says why in :data:`STATUS` (shown by a system check and the benchmark).

``DMVAULT_REDACTION_CORE=python`` forces the plain Python core (for debugging).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
MODULE = "compliance.redaction.detectors"
SOURCE_NAME = "detectors.py"
STAMP_NAME = "detectors.core-sha256"  # written by build_core next to the extension module


@dataclass(frozen=True)
class CoreStatus:
    compiled: bool  # whether the compiled core is (to be) used
    reason: str  # "compiled", "not built", "stale (…)", "forced by DMVAULT_REDACTION_CORE"
    extension: Path | None  # the extension module file, when one exists


def source_digest(package_dir: Path = PACKAGE_DIR) -> str:
    return hashlib.sha256((package_dir / SOURCE_NAME).read_bytes()).hexdigest()


def extension_path(package_dir: Path = PACKAGE_DIR) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = package_dir / ("detectors" + suffix)
        if candidate.exists():
            return candidate
    return None


def status(package_dir: Path = PACKAGE_DIR, environ: dict[str, str] | None = None) -> CoreStatus:
    env = os.environ if environ is None else environ
    ext = extension_path(package_dir)
    if env.get("DMVAULT_REDACTION_CORE", "").strip().lower() == "python":
        return CoreStatus(False, "forced by DMVAULT_REDACTION_CORE=python", ext)
    if ext is None:
        return CoreStatus(False, "not built", None)
    stamp = package_dir / STAMP_NAME
    recorded = stamp.read_text().strip() if stamp.exists() else ""
    if recorded != source_digest(package_dir):
        return CoreStatus(False, f"stale: {ext.name} was not built from the current {SOURCE_NAME}", ext)
    return CoreStatus(True, "compiled", ext)


def load_python_core(name: str = MODULE, package_dir: Path = PACKAGE_DIR) -> ModuleType:
    """Execute ``detectors.py`` as module ``name``, whatever extension module lies beside it."""
    spec = importlib.util.spec_from_file_location(name, package_dir / SOURCE_NAME)
    if spec is None or spec.loader is None:  # pragma: no cover - the file is part of the package
        raise ImportError(f"cannot load {package_dir / SOURCE_NAME}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


STATUS: CoreStatus = CoreStatus(False, "not loaded yet", None)


def load() -> ModuleType:
    """Import ``compliance.redaction.detectors`` from the right core (once per process)."""
    global STATUS
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    STATUS = status()
    if STATUS.compiled:
        return importlib.import_module(MODULE)
    if STATUS.reason.startswith("stale"):
        log.warning("redaction core: using plain Python (%s); run 'make install' to rebuild", STATUS.reason)
    return load_python_core()
