"""gunicorn settings for the container (``gunicorn -c python:dmvault.ops.gunicorn_conf dmvault.wsgi``).

The access log leaves out query strings (``%(U)s`` is the path only): search words travel in
``?q=`` and can name people. With ``PROMETHEUS_MULTIPROC_DIR`` set, a dead worker's metric files
are marked so the search-latency histogram stays correct.
"""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
worker_tmp_dir = "/dev/shm"  # noqa: S108 (heartbeat files; the container's root file system is read-only)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
