"""gunicorn settings for production: ``gunicorn --config deploy/gunicorn.conf.py``.

Every value can be changed without editing this file through the environment (the systemd
unit reads /etc/edureg/edureg.env): EDUREG_BIND, EDUREG_WEB_WORKERS, EDUREG_WEB_THREADS,
EDUREG_WEB_TIMEOUT. The access log keeps the method, the path (never the query string, which
may carry a searched name or identity number), the status, the size and the time taken: no
client address, user agent, referrer or user name either.
"""

from __future__ import annotations

import multiprocessing
import os

wsgi_app = "edureg.wsgi:application"

# Behind nginx on the same machine; a unix socket ("unix:/run/edureg/web.sock") works too.
bind = [os.environ.get("EDUREG_BIND", "127.0.0.1:8000")]

# Sized from the CPU count: (2 x cores) + 1 processes, each with a few threads (the views wait
# on the database more than they compute). Capped so that a big machine does not open more
# PostgreSQL connections than the server allows: workers x threads connections at most
# (17 x 4 = 68, under PostgreSQL's default max_connections of 100).
_cores = multiprocessing.cpu_count()
workers = int(os.environ.get("EDUREG_WEB_WORKERS", "0")) or min(2 * _cores + 1, 17)
worker_class = "gthread"
threads = int(os.environ.get("EDUREG_WEB_THREADS", "4"))

# A request that takes longer than this is killed and its worker replaced (reports and
# exports run in the task worker, not in a request).
timeout = int(os.environ.get("EDUREG_WEB_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle each worker after some requests, at staggered times, so a slow leak cannot grow.
max_requests = 2000
max_requests_jitter = 200

# Limits on the request line and headers: gunicorn's defaults, stated.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Trust X-Forwarded-* only from the local nginx.
forwarded_allow_ips = os.environ.get("EDUREG_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs to stdout/stderr: journald keeps them (journalctl -u edureg-web).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("EDUREG_GUNICORN_LOG_LEVEL", "info")
# %(U)s is the path without the query string; %(M)s the time taken in milliseconds.
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
# What the application prints goes to the same log.
capture_output = True
proc_name = "edureg-web"
