"""Local stand-ins for the systems outside the machine: an SMTP server (aiosmtpd) and an
HTTP server speaking the part of Twilio's Messages API the twilio client uses. Everything
else (PostgreSQL, Redis, Celery's broker) is real. The portal's sign-in tests use these
too; ``celery_eager`` lives in tests/conftest.py."""

import json
import re
import socket
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller

TWILIO_ACCOUNT_SID = "AC" + "1" * 32
TWILIO_AUTH_TOKEN = "twilio-test-auth-token"
TWILIO_FROM_NUMBER = "+15005550006"
_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w{32})/Messages\.json$")


@dataclass
class FakeTwilio:
    """Answers POST /2010-04-01/Accounts/{sid}/Messages.json like Twilio: 201 with the new
    message's sid and status, or the error queued in ``failures`` (status, code)."""

    base_url: str = ""
    requests: list[dict] = field(default_factory=list)
    failures: deque = field(default_factory=deque)
    always_fail_with: tuple[int, int] | None = None

    @property
    def sent_sids(self) -> list[str]:
        return [request["sid"] for request in self.requests if request.get("sid")]


def _twilio_handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # quiet test output
            pass

        def do_POST(self):
            match = _MESSAGES_PATH.match(self.path)
            length = int(self.headers.get("Content-Length", 0))
            form = {
                key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()
            }
            record = {
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "form": form,
            }
            fake.requests.append(record)
            if match is None:
                return self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
            failure = fake.failures.popleft() if fake.failures else fake.always_fail_with
            if failure is not None:
                status, code = failure
                return self._answer(
                    status, {"code": code, "message": "Simulated failure", "status": status}
                )
            record["sid"] = "SM" + uuid.uuid4().hex
            return self._answer(
                201,
                {
                    "sid": record["sid"],
                    "account_sid": match["sid"],
                    "status": "queued",
                    "to": form.get("To"),
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "num_segments": "1",
                    "direction": "outbound-api",
                    "api_version": "2010-04-01",
                },
            )

        def _answer(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def fake_twilio(settings):
    """A local Twilio, with settings pointing the Twilio SMS backend at it."""
    fake = FakeTwilio()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _twilio_handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = TWILIO_ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = TWILIO_AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = TWILIO_FROM_NUMBER
    settings.TWILIO_BASE_URL = fake.base_url
    yield fake
    server.shutdown()
    server.server_close()


class _RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1 (aiosmtpd), with Django's SMTP backend pointed at it."""
    handler = _RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield handler
    controller.stop()


@pytest.fixture
def retry_policy(settings):
    """Five attempts, backing off 60 s, 120 s, 240 s, 480 s."""
    settings.NOTIFICATION_MAX_ATTEMPTS = 5
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 60
    settings.NOTIFICATION_RETRY_MAX_SECONDS = 3600
