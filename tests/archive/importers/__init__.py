"""Importer tests (a package so the shared meta_checks helper can be imported)."""
