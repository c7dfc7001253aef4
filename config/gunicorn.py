"""gunicorn's settings for the web process: `gunicorn -c python:config.gunicorn
config.wsgi:application` (the Dockerfile, docker-compose.yml and bench/bench_api.py).

Sync workers, two per CPU the process may run on (``WEB_CONCURRENCY`` overrides). A sync
worker takes a connection from the shared listening socket only when it is free, so the
kernel hands each request to whichever worker can serve it now. Threaded (gthread) workers
each keep the keep-alive connections they accepted, so one worker's queue can be twice the
other's, and its requests set the slowest latencies: measured with the same load, gthread's
99th percentile was 1.75-2.8 times its median, sync's 1.3-1.6 times (docs/BENCHMARKS.md, run
10). Two workers per CPU fill the CPU while one waits for PostgreSQL (a row lock, the
commit's WAL flush); one per CPU left it idle then (docs/DECISIONS.md).

A sync worker is held by a client for as long as the client takes to send its request and
read the answer, so production puts a buffering proxy in front (nginx, or a load balancer
that buffers requests and responses; docs/OPERATIONS.md). Each worker keeps one database
connection for ``DB_CONN_MAX_AGE`` seconds: plan for workers connections per host.

The application logs every request itself (one JSON line with the request id,
docs/OPERATIONS.md), so gunicorn's access log stays off.
"""

import os


def _default_workers() -> int:
    return 2 * len(os.sched_getaffinity(0))


bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or _default_workers())
worker_class = "sync"
backlog = 2048
