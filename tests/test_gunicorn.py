"""config/gunicorn.py: the web process's settings, as gunicorn itself reads them, and the
production image and stack starting gunicorn with them."""

import os
import re
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def _printed_config(**environment: str) -> dict[str, str]:
    completed = subprocess.run(  # noqa: S603 - our own command line
        [
            str(GUNICORN),
            "--config",
            "python:config.gunicorn",
            "--print-config",
            "config.wsgi:application",
        ],
        cwd=BASE_DIR,
        # The sizes come from WEB_* alone: none inherited from the shell running the tests.
        env={
            **{name: value for name, value in os.environ.items() if not name.startswith("WEB_")},
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    settings = {}
    for line in completed.stdout.splitlines():
        match = re.match(r"(\w+)\s+= (.*)$", line)
        if match:
            settings[match[1]] = match[2]
    return settings


def test_sync_workers_two_per_cpu_by_default_and_sized_from_the_environment():
    default = _printed_config()
    assert default["worker_class"] == "sync"
    assert default["workers"] == str(2 * len(os.sched_getaffinity(0)))
    # gunicorn turns sync workers into gthread ones when threads > 1.
    assert default["threads"] == "1"
    assert default["bind"] == "['0.0.0.0:8000']"
    assert default["accesslog"] == "None"

    sized = _printed_config(WEB_CONCURRENCY="3", WEB_BIND="127.0.0.1:9000")
    assert sized["workers"] == "3"
    assert sized["bind"] == "['127.0.0.1:9000']"


def test_the_image_and_the_stack_start_gunicorn_with_these_settings():
    expected = '"gunicorn", "--config", "python:config.gunicorn", "config.wsgi:application"'
    assert expected in (BASE_DIR / "Dockerfile").read_text()
    assert expected in (BASE_DIR / "docker-compose.yml").read_text()
