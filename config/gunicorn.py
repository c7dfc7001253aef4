"""gunicorn's settings for the web process: `gunicorn -c python:config.gunicorn
config.wsgi:application` (the Dockerfile, docker-compose.yml and bench/bench_api.py).

Threaded workers (gthread), not gunicorn's default sync class: a sync worker serves one
connection at a time and closes it after each response, so its CPU sits idle while a request
waits for PostgreSQL (a row lock, the commit's WAL flush). Threads fill that wait with another
request; Python holds the GIL while it computes, so more than a few threads per core only adds
switching (docs/BENCHMARKS.md compares the classes). Each thread keeps its own database
connection for ``DB_CONN_MAX_AGE`` seconds: plan for workers x threads connections per host.

The application logs every request itself (one JSON line with the request id,
docs/OPERATIONS.md), so gunicorn's access log stays off.
"""

import os

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
backlog = 2048
