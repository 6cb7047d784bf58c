"""Compile ``detectors.py`` with Cython into the faster redaction core (``make install`` runs this).

    python -m compliance.redaction.build_core [--force] [--check]

Nothing happens when the compiled core was already built from the current source. The C file
and objects go to ``build/redaction-core/`` (ignored by git); only the extension module and the
source's SHA-256 (:data:`core.STAMP_NAME`) land in the package. ``--check`` builds nothing and
exits 1 unless the compiled core is current. Needs Cython and a C compiler; without them the
redactor runs as plain Python (see :mod:`compliance.redaction.core`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from . import core

PROJECT_ROOT = core.PACKAGE_DIR.parent.parent
BUILD_DIR = PROJECT_ROOT / "build" / "redaction-core"

# binding=False: module functions become plain C functions instead of Cython's introspectable
# function objects, which makes the ~15 detector calls per message cheaper. No other directive
# changes Python semantics (no bounds-check or wrap-around shortcuts: the code indexes with -1).
DIRECTIVES = {"language_level": 3, "binding": False}


def build(force: bool = False) -> str:
    if not force and core.status(environ={}).compiled:
        return "up to date"
    from Cython.Build import cythonize  # build-time only: the server never imports Cython
    from setuptools import Distribution, Extension

    digest = core.source_digest()
    stamp = core.PACKAGE_DIR / core.STAMP_NAME
    stamp.unlink(missing_ok=True)  # a failed build must not leave a stamp that vouches for old code
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    extension = Extension(core.MODULE, [str(core.PACKAGE_DIR / core.SOURCE_NAME)])
    modules = cythonize(
        [extension], build_dir=str(BUILD_DIR), compiler_directives=DIRECTIVES, quiet=True, force=force
    )
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory(dir=BUILD_DIR) as temp:
        os.chdir(PROJECT_ROOT)  # build_ext --inplace places the module by its dotted name
        try:
            dist = Distribution({"name": "dmvault-redaction-core", "ext_modules": modules})
            dist.script_name = "build_core"
            dist.script_args = ["-q", "build_ext", "--inplace", "--build-temp", temp]
            dist.parse_command_line()
            dist.run_commands()
        finally:
            os.chdir(cwd)
    if core.extension_path() is None:
        raise RuntimeError("the C build finished but no extension module was written")
    stamp.write_text(digest + "\n")
    return "built"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when current")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 unless current")
    args = parser.parse_args(argv)
    if args.check:
        current = core.status(environ={})
        print(f"redaction core: {current.reason}")
        return 0 if current.compiled else 1
    print(f"redaction core: {build(force=args.force)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
