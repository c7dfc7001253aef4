"""The documents a customer uploads with a claim: checked, scanned, stored and served.

Rules (docs/PORTAL.md):

- JPEG, PNG, HEIC or PDF, at most CLAIM_UPLOAD_MAX_BYTES; the type is read from the
  content, never from the file name or the browser's content type. SVG, HTML and every
  other type are refused.
- Every upload is scanned by ClamAV (clamd's INSTREAM command) when CLAMD_SOCKET or
  CLAMD_HOST is set; if the scanner cannot be reached the upload is refused, never let
  through unscanned.
- Images are decoded and re-encoded by Pillow, which drops anything hidden beside the
  pixels (scripts in a polyglot, EXIF location data); HEIC becomes JPEG so every verifier's
  browser can show it. An image over CLAIM_UPLOAD_MAX_PIXELS is refused from its header,
  before any pixel is decoded.
- PDFs must parse (pypdf), not be password-protected and have at most
  CLAIM_UPLOAD_MAX_PDF_PAGES pages; they are stored as uploaded.
- What is kept goes to the private default storage under a random name; it is served
  only as an attachment, with ``X-Content-Type-Options: nosniff`` and a sandboxing CSP.

Every refusal is a ``DocumentRefusedError`` (a ValidationError) whose message is written
for the customer, so a form can raise it as it is.
"""

import hashlib
import io
import logging
import secrets
import socket
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

import pillow_heif
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.http import FileResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, ImageOps
from pypdf import PasswordType, PdfReader

logger = logging.getLogger(__name__)

# Lets Pillow open HEIC; only when a call names the format (Image.open(formats=[...])).
pillow_heif.register_heif_opener()

STORAGE_FOLDER = "claim-documents"
ACCEPTED_TYPES_TEXT = "JPEG, PNG, HEIC, PDF"
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_CLAMD_CHUNK_BYTES = 64 * 1024


class DocumentRefusedError(ValidationError):
    """An upload that is not accepted; ``messages[0]`` tells the customer why."""


class ScannerUnavailableError(Exception):
    """clamd could not be reached, or answered something other than a verdict."""


@dataclass(frozen=True)
class CheckedDocument:
    """An accepted upload, as it will be stored."""

    content: bytes
    content_type: str
    extension: str
    uploaded_type: str  # what the customer sent: "jpeg", "png", "heic" or "pdf"
    width: int | None = None
    height: int | None = None
    page_count: int | None = None


@dataclass(frozen=True)
class StoredDocument:
    storage_name: str
    content_type: str
    size_bytes: int
    sha256: str
    download_name: str


def document_store(
    upload: IO[bytes] | Any,
    *,
    original_name: str = "",
    storage: Storage | None = None,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> StoredDocument:
    """Checks, scans and stores one upload; raises DocumentRefusedError to refuse it.

    ``upload`` is a Django UploadedFile or any binary file object. ``original_name`` (the
    customer's file name, defaulting to ``upload.name``) is used only to name the download.
    """
    data = read_limited(upload, max_bytes=max_bytes)
    scan_for_malware(data)
    checked = document_check(data, max_pixels=max_pixels)
    storage = storage or default_storage
    random_name = f"{STORAGE_FOLDER}/{secrets.token_urlsafe(24)}.{checked.extension}"
    storage_name = storage.save(random_name, ContentFile(checked.content))
    return StoredDocument(
        storage_name=storage_name,
        content_type=checked.content_type,
        size_bytes=len(checked.content),
        sha256=hashlib.sha256(checked.content).hexdigest(),
        download_name=download_name_for(
            original_name or getattr(upload, "name", "") or "", checked.extension
        ),
    )


def read_limited(upload: IO[bytes] | Any, *, max_bytes: int | None = None) -> bytes:
    """Reads the whole upload, refusing it as soon as it is past the size limit."""
    limit = settings.CLAIM_UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
    too_large = DocumentRefusedError(
        _("The file is too large. The largest file you can upload is %(limit)s.")
        % {"limit": filesizeformat(limit)},
        code="too_large",
    )
    declared_size = getattr(upload, "size", None)
    if declared_size is not None and declared_size > limit:
        raise too_large
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise too_large
    if not data:
        raise DocumentRefusedError(_("The file is empty. Choose the file again."), code="empty")
    return bytes(data)


def document_check(data: bytes, *, max_pixels: int | None = None) -> CheckedDocument:
    """Judges ``data`` by its content and returns what to store (images re-encoded)."""
    kind = sniff_type(data)
    if kind == "pdf":
        return _check_pdf(data)
    if kind in ("jpeg", "png", "heic"):
        limit = settings.CLAIM_UPLOAD_MAX_PIXELS if max_pixels is None else max_pixels
        return _reencode_image(data, kind, limit)
    if kind == "markup":
        raise DocumentRefusedError(
            _(
                "Web pages and SVG drawings cannot be uploaded. Upload a photo or a scan "
                "as %(types)s."
            )
            % {"types": ACCEPTED_TYPES_TEXT},
            code="markup",
        )
    raise DocumentRefusedError(
        _("This type of file cannot be uploaded. Upload a photo or a scan as %(types)s.")
        % {"types": ACCEPTED_TYPES_TEXT},
        code="unsupported_type",
    )


def sniff_type(data: bytes) -> str:
    """The file's type from its first bytes: jpeg, png, heic, pdf, markup or unknown."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    # PDF readers accept the header anywhere in the first kilobyte; we do not, so a file
    # that is both something else and a PDF is not taken for one.
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data[4:8] == b"ftyp" and _is_heif(data):
        return "heic"
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") or any(tag in head for tag in (b"<svg", b"<html", b"<script")):
        return "markup"
    return "unknown"


def _is_heif(data: bytes) -> bool:
    box_size = struct.unpack(">I", data[:4])[0]
    if not 16 <= box_size <= 4096:
        return False
    major = data[8:12]
    compatible = {data[i : i + 4] for i in range(16, min(box_size, len(data)), 4)}
    return major in _HEIF_BRANDS or (
        major in (b"mif1", b"msf1") and bool(compatible & _HEIF_BRANDS)
    )


_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "heic": "HEIF"}


def _damaged_image() -> DocumentRefusedError:
    return DocumentRefusedError(
        _(
            "The picture could not be read. It may be damaged: take the photo again, or "
            "save it again as JPEG or PNG."
        ),
        code="damaged_image",
    )


def _too_many_pixels(limit: int) -> DocumentRefusedError:
    return DocumentRefusedError(
        _(
            "The picture has too many pixels: at most %(limit)s million are accepted. Take "
            "the photo at a lower resolution, or upload a screenshot of it."
        )
        % {"limit": f"{limit / 1_000_000:g}"},
        code="too_many_pixels",
    )


def _reencode_image(data: bytes, kind: str, max_pixels: int) -> CheckedDocument:
    try:
        # Opening reads only the header, so the pixel limit is checked before decoding.
        with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[kind]]) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(max_pixels)
            image.load()
            upright = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        # Pillow's own, higher, guard fired while reading the header.
        raise _too_many_pixels(max_pixels) from None
    except DocumentRefusedError:
        raise
    except Exception:  # a decoder fed hostile input may fail in any way; all mean "damaged"
        raise _damaged_image() from None

    output = io.BytesIO()
    icc_profile = image.info.get("icc_profile")
    if kind == "png":
        if upright.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            upright = upright.convert("RGBA")
        upright.save(output, "PNG", icc_profile=icc_profile)
        content_type, extension = "image/png", "png"
    else:
        if upright.mode not in ("L", "RGB"):
            upright = upright.convert("RGB")
        upright.save(output, "JPEG", quality=90, icc_profile=icc_profile)
        content_type, extension = "image/jpeg", "jpg"
    return CheckedDocument(
        content=output.getvalue(),
        content_type=content_type,
        extension=extension,
        uploaded_type=kind,
        width=upright.width,
        height=upright.height,
    )


def _check_pdf(data: bytes) -> CheckedDocument:
    damaged = DocumentRefusedError(
        _("The PDF could not be read. It may be damaged: save or scan it again."),
        code="damaged_pdf",
    )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise DocumentRefusedError(
                _("The PDF is protected by a password. Upload a copy without a password."),
                code="pdf_password",
            )
        page_count = len(reader.pages)
        # Every page object must resolve to a page with a size.
        if any(page.mediabox.width <= 0 for page in reader.pages):
            raise damaged
    except DocumentRefusedError:
        raise
    except Exception:  # a parser fed hostile input may fail in any way; all mean "damaged"
        raise damaged from None
    if page_count == 0:
        raise damaged
    if page_count > settings.CLAIM_UPLOAD_MAX_PDF_PAGES:
        raise DocumentRefusedError(
            _("The PDF has too many pages: at most %(limit)s are accepted.")
            % {"limit": settings.CLAIM_UPLOAD_MAX_PDF_PAGES},
            code="pdf_pages",
        )
    return CheckedDocument(
        content=data,
        content_type="application/pdf",
        extension="pdf",
        uploaded_type="pdf",
        page_count=page_count,
    )


def scanner_configured() -> bool:
    return bool(settings.CLAMD_SOCKET or settings.CLAMD_HOST)


def scan_for_malware(data: bytes) -> None:
    """Refuses ``data`` if ClamAV finds a threat, or if a configured scanner cannot answer."""
    if not scanner_configured():
        return
    try:
        signature = clamd_instream(data)
    except ScannerUnavailableError:
        logger.exception("virus scanner unavailable")
        raise DocumentRefusedError(
            _("We could not check the file for viruses just now. Try again in a few minutes."),
            code="scan_unavailable",
        ) from None
    if signature is not None:
        logger.warning("upload refused by virus scanner", extra={"signature": signature})
        raise DocumentRefusedError(
            _("The file was refused: our virus check found a threat in it."),
            code="malware",
        )


def clamd_instream(data: bytes) -> str | None:
    """Streams ``data`` to clamd (INSTREAM); returns the signature found, or None if clean.

    clamd's StreamMaxLength must be at least CLAIM_UPLOAD_MAX_BYTES, or it answers with an
    error for large files (which refuses them as "scanner unavailable").
    """
    try:
        if settings.CLAMD_SOCKET:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(settings.CLAMD_TIMEOUT_SECONDS)
            connection.connect(settings.CLAMD_SOCKET)
        else:
            connection = socket.create_connection(
                (settings.CLAMD_HOST, settings.CLAMD_PORT), timeout=settings.CLAMD_TIMEOUT_SECONDS
            )
        with connection:
            connection.sendall(b"zINSTREAM\0")
            for start in range(0, len(data), _CLAMD_CHUNK_BYTES):
                chunk = data[start : start + _CLAMD_CHUNK_BYTES]
                connection.sendall(struct.pack("!L", len(chunk)) + chunk)
            connection.sendall(struct.pack("!L", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                part = connection.recv(4096)
                if not part:
                    break
                reply += part
    except OSError as error:
        raise ScannerUnavailableError(str(error)) from error
    verdict = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
    if verdict.endswith(" OK"):
        return None
    if verdict.endswith(" FOUND"):
        return verdict.removeprefix("stream:").removesuffix(" FOUND").strip()
    raise ScannerUnavailableError(verdict or "no answer")


def download_name_for(original_name: str, extension: str) -> str:
    """A safe file name for the download: the customer's stem and our extension."""
    stem = PurePosixPath(original_name.replace("\\", "/")).stem
    stem = "".join(
        char for char in unicodedata.normalize("NFC", stem) if unicodedata.category(char)[0] != "C"
    ).strip(" .")[:80]
    return f"{stem or 'document'}.{extension}"


def document_response(
    *, storage_name: str, content_type: str, download_name: str, storage: Storage | None = None
) -> FileResponse:
    """The stored file as a download. The caller must already have checked the viewer.

    Served as an attachment, never inline, with the type we recorded (not sniffed), and a
    CSP that sandboxes it should a browser render it anyway.
    """
    storage = storage or default_storage
    response = FileResponse(
        storage.open(storage_name, "rb"),
        as_attachment=True,
        filename=download_name,
        content_type=content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
