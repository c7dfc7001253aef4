"""Factories for the customer portal: customers with portal accounts, and real upload files
built in memory with Pillow, pillow-heif and pypdf."""

import io

import factory
from django.contrib.auth import get_user_model
from PIL import Image
from pypdf import PdfWriter

from claims.models import CustomerAccount
from tests.crm import factories as crm_factories

# The EICAR anti-virus test file: harmless, and detected by every scanner as a threat.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class CustomerFactory(crm_factories.CustomerFactory):
    """crm's customer as a prize winner. A subclass shares crm's sequence, so customers made
    by both factories in one test never get the same phone number."""

    first_name = "Alva"
    email = factory.Sequence(lambda n: f"winner{n}@example.com")


class CustomerUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"customer-test-{n}")
    password = factory.PostGenerationMethodCall("set_unusable_password")


class CustomerAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerAccount

    customer = factory.SubFactory(CustomerFactory)
    user = factory.SubFactory(CustomerUserFactory)


def jpeg_bytes(size: tuple[int, int] = (64, 48), *, orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((20, 20, 200), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "Test camera"  # Make
    if orientation is not None:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (40, 30), *, mode: str = "RGBA") -> bytes:
    image = Image.new(mode, size, 128 if mode in ("1", "L") else (10, 120, 60, 255)[: len(mode)])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def heic_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    import pillow_heif

    image = Image.new("RGB", size, (30, 160, 200))
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=80)
    return buffer.getvalue()


def pdf_bytes(pages: int = 1, *, password: str | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": "Invoice 1234"})
    if password is not None:
        writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>"
)
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


# -- claims ------------------------------------------------------------------------------
# Claims are made the way the portal makes them: a real code entered through
# claims.services.claim_start_from_code (which takes the prize out of stock), then moved
# through the real transition services by users holding the real roles.

from datetime import timedelta  # noqa: E402
from typing import Any  # noqa: E402

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.utils import timezone  # noqa: E402

from claims import services  # noqa: E402
from claims.models import Claim, ClaimRequirements, ClaimStatus  # noqa: E402
from crm.roles import Role  # noqa: E402
from rewards.codes import new_code  # noqa: E402
from rewards.models import Code, CodeBatch, Prize, Scheme  # noqa: E402
from tests.crm.factories import staff_user  # noqa: E402
from tests.rewards.factories import SchemeFactory  # noqa: E402


class InstantWinSchemeFactory(SchemeFactory):
    name = factory.Sequence(lambda n: f"Summer scratch card {n}")
    code = factory.Sequence(lambda n: f"scratch-{n}")
    kind = Scheme.Kind.INSTANT_WIN
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    claim_deadline_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=60))


class PrizeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prize

    scheme = factory.SubFactory(InstantWinSchemeFactory)
    name = factory.Sequence(lambda n: f"Wireless headphones {n}")
    kind = Prize.Kind.PHYSICAL
    quantity_total = 10


def make_codes(scheme: Scheme, *, prize: Prize | None = None, count: int = 1) -> list[Code]:
    """``count`` printed codes of a ready batch, each winning ``prize`` (or nothing)."""
    batch = CodeBatch.objects.create(
        scheme=scheme,
        size=count,
        status=CodeBatch.Status.READY,
        prize_plan={str(prize.pk): count} if prize else {},
        prize_assignment_seed="00" * 32 if prize else "",
        prize_assignment_algorithm="test-fixed" if prize else "",
    )
    return [
        Code.objects.create(
            batch=batch, scheme=scheme, value=new_code(), serial=serial, prize=prize
        )
        for serial in range(1, count + 1)
    ]


def winning_code(prize: Prize | None = None) -> Code:
    prize = prize or PrizeFactory()
    return make_codes(prize.scheme, prize=prize)[0]


def portal_customer(**fields: Any) -> CustomerAccount:
    """A customer with a portal account (``account.user`` is who acts for them)."""
    account = CustomerAccountFactory(customer=CustomerFactory(**fields))
    # The user factory sets the unusable password without saving it; a session's auth
    # hash is taken from the saved password, so save it.
    account.user.save(update_fields=["password"])
    return account


def require(scheme: Scheme, **fields: Any) -> ClaimRequirements:
    requirements, _created = ClaimRequirements.objects.update_or_create(
        scheme=scheme, defaults=fields
    )
    return requirements


def draft_claim(
    *, account: CustomerAccount | None = None, code: Code | None = None, complete: bool = True
) -> Claim:
    """A draft opened by entering a winning code; ``complete`` fills the form and uploads an
    invoice (needs the ``private_storage`` fixture)."""
    account = account or portal_customer()
    code = code or winning_code()
    entry = services.claim_start_from_code(
        customer=account.customer, actor=account.user, text=code.value
    )
    assert entry.outcome == services.CodeOutcome.CLAIM_STARTED, entry
    claim = entry.claim
    if complete:
        complete_draft(claim, account.user)
    return Claim.objects.get(pk=claim.pk)


def complete_draft(claim: Claim, user: Any) -> None:
    services.claim_details_update(
        claim=claim,
        actor=user,
        details={
            "full_name": "Alva Winner",
            "address_line1": "Storgatan 1",
            "postal_code": "111 22",
            "city": "Stockholm",
        },
    )
    services.claim_document_add(claim=claim, actor=user, kind="invoice", upload=invoice_upload())


def invoice_upload(name: str = "receipt.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, jpeg_bytes(), content_type="image/jpeg")


class Staff:
    """One user per staff role that moves claims, created on first use."""

    def __init__(self) -> None:
        self._users: dict[str, Any] = {}

    def __getattr__(self, role: str) -> Any:
        if role.startswith("_"):
            raise AttributeError(role)
        if role not in self._users:
            self._users[role] = staff_user(Role(role))
        return self._users[role]


_REVIEW = [("claim_submit", "customer", {}), ("claim_start_review", "verifier", {})]
_APPROVED = [
    *_REVIEW,
    ("claim_propose", "verifier", {"outcome": "approve"}),
    ("claim_approve", "checker", {}),
]
_RELEASED = [*_APPROVED, ("claim_release", "helpdesk", {})]
_DISPATCHED = [
    *_RELEASED,
    (
        "claim_dispatch",
        "helpdesk",
        {"carrier": "PostNord", "tracking_number": "00370712345678901234"},
    ),
]
# The path from draft to each status: (service, who acts, keyword arguments) steps.
_PATHS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    ClaimStatus.DRAFT: [],
    ClaimStatus.SUBMITTED: _REVIEW[:1],
    ClaimStatus.IN_REVIEW: _REVIEW,
    ClaimStatus.PROPOSED: [*_REVIEW, ("claim_propose", "verifier", {"outcome": "approve"})],
    ClaimStatus.APPROVED: _APPROVED,
    ClaimStatus.REJECTED: [
        *_REVIEW,
        (
            "claim_propose",
            "verifier",
            {"outcome": "reject", "reason": "The receipt is from before the campaign."},
        ),
        ("claim_reject", "checker", {}),
    ],
    ClaimStatus.RESUBMISSION_REQUESTED: [
        *_REVIEW,
        (
            "claim_propose",
            "verifier",
            {
                "outcome": "resubmit",
                "reason": "The receipt photo is too blurry to read.",
                "requested_document_kinds": ["invoice"],
            },
        ),
        ("claim_request_resubmission", "checker", {}),
    ],
    ClaimStatus.RELEASED: _RELEASED,
    ClaimStatus.DISPATCHED: _DISPATCHED,
    ClaimStatus.RETURNED: [*_DISPATCHED, ("claim_mark_returned", "helpdesk", {})],
    ClaimStatus.DELIVERED: [*_DISPATCHED, ("claim_deliver", "helpdesk", {})],
}


def claim_in(status: str, *, staff: Staff, account: CustomerAccount | None = None, **kwargs: Any):
    """A claim brought to ``status`` through the services (forfeited: a draft whose
    deadline passed, forfeited by the system)."""
    account = account or portal_customer()
    claim = draft_claim(account=account, **kwargs)
    if status == ClaimStatus.FORFEITED:
        Claim.objects.filter(pk=claim.pk).update(deadline_at=timezone.now() - timedelta(hours=1))
        return services.claim_forfeit(claim=claim)
    for service_name, who, arguments in _PATHS[status]:
        actor = account.user if who == "customer" else getattr(staff, who)
        claim = getattr(services, service_name)(claim=claim, actor=actor, **arguments)
    assert claim.status == status
    return claim


# -- hostile files and API sign-in ------------------------------------------------------------

import zipfile  # noqa: E402
import zlib  # noqa: E402

from claims.api.authentication import access_token_issue  # noqa: E402
from claims.models import CustomerOTPDevice  # noqa: E402

# What a Windows program starts with: the type check must refuse it whatever its name.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 240
POLYGLOT_SCRIPT = b"<html><body><script>alert(document.cookie)</script></body></html>"


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", POLYGLOT_SCRIPT)
    return buffer.getvalue()


def jpeg_polyglot() -> bytes:
    """A real JPEG with an HTML page and a ZIP archive appended: image viewers show the
    photo, a browser sniffing it may run the script, unzip opens the archive."""
    return jpeg_bytes((120, 90)) + POLYGLOT_SCRIPT + zip_bytes()


def png_html_polyglot() -> bytes:
    """A real PNG carrying an HTML page in a tEXt chunk and again after IEND."""
    image = png_bytes((40, 30))
    iend = image.rindex(b"IEND") - 4
    chunk_data = b"Comment\x00" + POLYGLOT_SCRIPT
    chunk = (
        len(chunk_data).to_bytes(4, "big")
        + b"tEXt"
        + chunk_data
        + zlib.crc32(b"tEXt" + chunk_data).to_bytes(4, "big")
    )
    return image[:iend] + chunk + image[iend:] + POLYGLOT_SCRIPT


def huge_png(side: int = 20_000) -> bytes:
    """A decompression bomb: tiny on disk, ``side`` x ``side`` pixels once decoded."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG")
    return buffer.getvalue()


def access_token_for(account: CustomerAccount) -> str:
    """The bearer token a verified code through the API leaves (tests/claims/test_api.py
    drives the real sign-in; elsewhere it is the starting point)."""
    device, _created = CustomerOTPDevice.objects.get_or_create(
        channel=CustomerOTPDevice.Channel.SMS,
        destination=account.customer.phone,
        defaults={"name": "sms", "user": account.user},
    )
    return access_token_issue(user=account.user, device=device)
