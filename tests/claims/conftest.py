"""Fixtures for the portal tests: a real clamd with a local EICAR signature, a private
storage folder per test, messages sent in process, and readers for the codes the portal
sends. Twilio's and the SMTP server's stand-ins are shared with crm's notification tests."""

import logging
import re
import shutil
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from tests.crm.notifications.conftest import (  # noqa: F401 - shared fixtures
    fake_twilio,
    retry_policy,
    smtp_server,
)

# The browser fixtures live with the other browser tests; they are shared, not copied.

CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"


@pytest.fixture(scope="session")
def clamd_socket(tmp_path_factory):
    """A real clamd (Debian's clamav-daemon) whose only signature is EICAR's.

    No signature download: the database is one local .ndb line, so the daemon starts in a
    second or two and needs no network.
    """
    if not Path(CLAMD).exists():
        pytest.fail(f"{CLAMD} is missing: install Debian's clamav-daemon package.")
    folder = tmp_path_factory.mktemp("clamd")
    database = folder / "db"
    database.mkdir()
    eicar = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    (database / "eicar.ndb").write_text(f"Eicar-Test-Signature:0:*:{eicar.hex()}\n")
    socket_path = folder / "clamd.sock"
    config = folder / "clamd.conf"
    config.write_text(
        f"LocalSocket {socket_path}\n"
        f"DatabaseDirectory {database}\n"
        f"TemporaryDirectory {folder}\n"
        f"LogFile {folder / 'clamd.log'}\n"
        "Foreground yes\n"
        "StreamMaxLength 50M\n"
    )
    process = subprocess.Popen(  # noqa: S603 - a fixed binary and our own config file
        [CLAMD, f"--config-file={config}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not _clamd_answers(socket_path):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (folder / "clamd.log").read_text() if (folder / "clamd.log").exists() else ""
                pytest.fail(f"clamd did not start:\n{log}")
            time.sleep(0.2)
        yield str(socket_path)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _clamd_answers(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(2)
            connection.connect(str(socket_path))
            connection.sendall(b"zPING\0")
            return connection.recv(16).startswith(b"PONG")
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Pages link their CSS through the manifest storage, which only works after
    collectstatic; the tests serve the files under their own names instead."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def private_storage(settings, tmp_path):
    """The default (private) storage, in a folder of this test's own."""
    location = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return True
    return bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def _messages_sent_in_process(request, settings, celery_eager):
    """crm's notification engine sends the portal's messages (sign-in codes, claim news) in
    the test's own process: SMS to the log, email to Django's outbox. No worker is needed
    and nothing is left on the shared broker. Tests about Twilio, SMTP or the broker set
    their own stand-ins (fake_twilio, smtp_server) or turn eager mode off. The default
    message templates are there, as in every installation, for transactional tests too."""
    settings.SMS_BACKEND = "logged"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    if _is_transactional(request):
        request.getfixturevalue("default_message_templates")


@pytest.fixture
def sent_codes(caplog, celery_eager, default_message_templates):
    """Reads the last sign-in code crm's notification engine sent to a phone number (the
    logged SMS backend's record) or email address (Django's outbox)."""
    caplog.set_level(logging.INFO, logger="crm.sms")

    def bodies_for(destination: str) -> list[str]:
        if "@" in destination:
            return [message.body for message in mail.outbox if destination in message.to]
        return [
            record.body
            for record in caplog.records
            if record.name == "crm.sms" and getattr(record, "to", None) == destination
        ]

    def last_code_for(destination: str) -> str:
        bodies = bodies_for(destination)
        assert bodies, f"no code was sent to {destination}"
        return re.findall(r"\b(\d{6})\b", bodies[-1])[0]

    def count_for(destination: str) -> int:
        return len(bodies_for(destination))

    last_code_for.count = count_for  # type: ignore[attr-defined]
    return last_code_for


@pytest.fixture
def drawn(db):
    """A drawn lucky draw for one prize: a winner and one reserve, entered with codes."""
    from rewards.models import Code, Draw, DrawEntry, DrawResult, Scheme
    from tests.claims.factories import (
        InstantWinSchemeFactory,
        PrizeFactory,
        make_codes,
        portal_customer,
    )

    now = timezone.now()
    scheme = InstantWinSchemeFactory(kind=Scheme.Kind.LUCKY_DRAW)
    prize = PrizeFactory(scheme=scheme, quantity_total=1, quantity_awarded=1)
    draw = Draw.objects.create(
        scheme=scheme,
        prize=prize,
        winners_count=1,
        reserves_count=1,
        entries_close_at=now - timedelta(days=1),
        algorithm="sha256-ctr-fisher-yates-draw-v1",
        seed_hash="a" * 64,
        seed="b" * 64,
        status=Draw.Status.DRAWN,
        drawn_at=now - timedelta(hours=1),
        entries_count=2,
        entries_digest="c" * 64,
    )
    results = []
    for position, code in enumerate(make_codes(scheme, count=2), start=1):
        account = portal_customer()
        Code.objects.filter(pk=code.pk).update(
            status="entered", entered_at=now - timedelta(days=2), entered_by=account.customer
        )
        entry = DrawEntry.objects.create(
            draw=draw, customer=account.customer, kind=DrawEntry.Kind.CODE, code=code
        )
        results.append(
            DrawResult.objects.create(
                draw=draw,
                entry=entry,
                customer=account.customer,
                position=position,
                is_reserve=position > 1,
                status="pending_claim" if position == 1 else "reserve",
                claim_deadline_at=scheme.claim_deadline_at if position == 1 else None,
            )
        )
    return results
