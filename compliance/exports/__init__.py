"""Defensible legal productions (issue 8): export jobs, formats, signed manifests.

* ``jobs.create_export`` / ``tasks.run_export(job_id)``: the job lifecycle;
* ``production.build_production``: one zip of the requested formats plus a signed manifest;
* ``formats.*``: native JSON (reimportable: ``formats.native.read_native``), CSV, RSMF 2.0, EML,
  HTML, PDF with Bates numbers, Concordance DAT/OPT;
* ``verify.verify_production``: offline check (``manage.py verify_export``).
"""
