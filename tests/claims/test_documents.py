"""Upload rules for claim documents, with real files built in the test."""

import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from claims.documents import (
    DocumentRefusedError,
    document_response,
    document_store,
    download_name_for,
)
from tests.claims.factories import (
    EICAR,
    HTML,
    SVG,
    heic_bytes,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
)


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def stored_files(location) -> list:
    return sorted(path for path in location.rglob("*") if path.is_file())


def refusal(exception_info) -> tuple[str, str]:
    error = exception_info.value
    return error.code, error.messages[0]


# --- accepted ------------------------------------------------------------------------------


def test_a_jpeg_is_accepted_re_encoded_turned_upright_and_stripped_of_exif(private_storage):
    original = jpeg_bytes((64, 48), orientation=6)  # "rotate 90° clockwise to view"

    stored = document_store(upload("receipt.JPG", original, "image/jpeg"))

    assert stored.content_type == "image/jpeg"
    assert stored.storage_name.startswith("claim-documents/")
    assert stored.storage_name.endswith(".jpg")
    assert "receipt" not in stored.storage_name
    assert stored.download_name == "receipt.jpg"
    content = (private_storage / stored.storage_name).read_bytes()
    assert content != original
    assert stored.size_bytes == len(content)
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "JPEG"
        assert image.size == (48, 64)
        assert dict(image.getexif()) == {}


def test_a_png_is_accepted_and_re_encoded_without_what_was_hidden_after_it(private_storage):
    polyglot = png_bytes() + b"<script>alert(document.cookie)</script>"

    stored = document_store(upload("id.png", polyglot, "image/png"))

    content = (private_storage / stored.storage_name).read_bytes()
    assert stored.content_type == "image/png"
    assert stored.storage_name.endswith(".png")
    assert b"<script>" not in content
    with Image.open(io.BytesIO(content)) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (40, 30), "RGBA")


def test_a_heic_photo_is_accepted_and_stored_as_jpeg(private_storage):
    stored = document_store(upload("IMG_0001.HEIC", heic_bytes((64, 48)), "image/heic"))

    assert stored.content_type == "image/jpeg"
    assert stored.download_name == "IMG_0001.jpg"
    with Image.open(private_storage / stored.storage_name) as image:
        assert (image.format, image.size) == ("JPEG", (64, 48))


def test_a_pdf_is_accepted_as_it_was_uploaded(private_storage):
    original = pdf_bytes(pages=2)

    stored = document_store(upload("invoice.pdf", original, "application/pdf"))

    assert stored.content_type == "application/pdf"
    assert stored.storage_name.endswith(".pdf")
    assert (private_storage / stored.storage_name).read_bytes() == original


def test_every_upload_gets_a_new_random_name(private_storage):
    names = {document_store(upload("invoice.pdf", pdf_bytes())).storage_name for _ in range(3)}

    assert len(names) == 3
    assert len(stored_files(private_storage)) == 3


# --- judged by content, not by name -----------------------------------------------------------


def test_a_png_named_pdf_is_judged_by_its_content(private_storage):
    stored = document_store(upload("invoice.pdf", png_bytes(), "application/pdf"))

    assert stored.content_type == "image/png"
    assert stored.storage_name.endswith(".png")
    assert stored.download_name == "invoice.png"


def test_a_program_named_jpg_is_refused(private_storage):
    program = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120 + b"This program cannot be run in DOS"

    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("photo.jpg", program, "image/jpeg"))

    assert refusal(refused) == (
        "unsupported_type",
        "This type of file cannot be uploaded. Upload a photo or a scan as JPEG, PNG, HEIC, PDF.",
    )
    assert stored_files(private_storage) == []


@pytest.mark.parametrize(("name", "content"), [("drawing.svg", SVG), ("page.html", HTML)])
def test_svg_and_html_are_refused(private_storage, name, content):
    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload(name, content, "image/png"))

    assert refusal(refused) == (
        "markup",
        "Web pages and SVG drawings cannot be uploaded. Upload a photo or a scan as "
        "JPEG, PNG, HEIC, PDF.",
    )
    assert stored_files(private_storage) == []


# --- broken, oversized, hostile ----------------------------------------------------------------


def test_a_broken_pdf_is_refused(private_storage):
    broken = pdf_bytes()[:200]

    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("invoice.pdf", broken))

    assert refusal(refused) == (
        "damaged_pdf",
        "The PDF could not be read. It may be damaged: save or scan it again.",
    )
    assert stored_files(private_storage) == []


def test_a_password_protected_pdf_is_refused(private_storage):
    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("invoice.pdf", pdf_bytes(password="secret")))

    assert refusal(refused)[0] == "pdf_password"


def test_a_pdf_with_too_many_pages_is_refused(private_storage, settings):
    settings.CLAIM_UPLOAD_MAX_PDF_PAGES = 3

    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("invoice.pdf", pdf_bytes(pages=4)))

    assert refusal(refused) == ("pdf_pages", "The PDF has too many pages: at most 3 are accepted.")


def test_a_truncated_jpeg_is_refused(private_storage):
    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("photo.jpg", jpeg_bytes((300, 300))[:400]))

    assert refusal(refused)[0] == "damaged_image"
    assert stored_files(private_storage) == []


def test_a_20000_by_20000_png_is_refused_in_under_a_second(private_storage):
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, "PNG")
    huge = buffer.getvalue()
    assert len(huge) < 1_000_000  # small on disk: the danger is in decoding it

    started = time.perf_counter()
    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("bomb.png", huge, "image/png"))
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0
    assert refusal(refused)[0] == "too_many_pixels"
    assert stored_files(private_storage) == []


def test_the_pixel_limit_is_ours_and_set_per_call(private_storage, settings):
    settings.CLAIM_UPLOAD_MAX_PIXELS = 1_000_000
    pillows_own_limit = Image.MAX_IMAGE_PIXELS

    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("photo.png", png_bytes((1001, 1000), mode="L")))
    accepted = document_store(upload("photo.png", png_bytes((1000, 1000), mode="L")))

    assert refusal(refused) == (
        "too_many_pixels",
        "The picture has too many pixels: at most 1 million are accepted. Take the photo "
        "at a lower resolution, or upload a screenshot of it.",
    )
    assert accepted.content_type == "image/png"
    assert pillows_own_limit == Image.MAX_IMAGE_PIXELS


def test_a_file_over_the_size_limit_is_refused(private_storage, settings):
    settings.CLAIM_UPLOAD_MAX_BYTES = 1024 * 1024
    too_big = pdf_bytes() + b"%" + b"x" * (1024 * 1024)

    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("invoice.pdf", too_big))

    assert refusal(refused) == (
        "too_large",
        "The file is too large. The largest file you can upload is 1.0\xa0MB.",
    )
    assert stored_files(private_storage) == []


def test_an_empty_file_is_refused(private_storage):
    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("invoice.pdf", b""))

    assert refusal(refused) == ("empty", "The file is empty. Choose the file again.")


# --- virus scanning (a real clamd) --------------------------------------------------------------


@pytest.fixture
def scanner(settings, clamd_socket):
    settings.CLAMD_SOCKET = clamd_socket
    settings.CLAMD_HOST = ""
    return clamd_socket


def test_eicar_is_refused_when_the_scanner_is_configured(private_storage, scanner):
    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("invoice.pdf", EICAR, "application/pdf"))

    assert refusal(refused) == (
        "malware",
        "The file was refused: our virus check found a threat in it.",
    )
    assert stored_files(private_storage) == []


def test_eicar_inside_a_valid_pdf_is_refused(private_storage, scanner):
    infected = pdf_bytes() + b"%" + EICAR + b"\n"

    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("invoice.pdf", infected))

    assert refusal(refused)[0] == "malware"
    assert stored_files(private_storage) == []


def test_clean_files_pass_the_scanner(private_storage, scanner):
    stored = document_store(upload("invoice.pdf", pdf_bytes()))

    assert stored.content_type == "application/pdf"


def test_an_unreachable_scanner_refuses_rather_than_lets_through(
    private_storage, settings, tmp_path
):
    settings.CLAMD_SOCKET = str(tmp_path / "no-clamd-here.sock")

    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("invoice.pdf", pdf_bytes()))

    assert refusal(refused) == (
        "scan_unavailable",
        "We could not check the file for viruses just now. Try again in a few minutes.",
    )
    assert stored_files(private_storage) == []


def test_without_a_scanner_configured_nothing_is_scanned(private_storage, settings):
    settings.CLAMD_SOCKET = ""
    settings.CLAMD_HOST = ""

    # EICAR is plain text, so the type check refuses it, not a scanner
    with pytest.raises(DocumentRefusedError) as refused:
        document_store(upload("invoice.pdf", EICAR))

    assert refusal(refused)[0] == "unsupported_type"


# --- serving -------------------------------------------------------------------------------------


def test_a_stored_document_is_served_as_an_attachment_that_is_never_sniffed(private_storage):
    stored = document_store(upload("Faktura maj.pdf", pdf_bytes()))

    response = document_response(
        storage_name=stored.storage_name,
        content_type=stored.content_type,
        download_name=stored.download_name,
    )

    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="Faktura maj.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == "private, no-store"
    assert (
        b"".join(response.streaming_content) == (private_storage / stored.storage_name).read_bytes()
    )
    response.close()


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("../../etc/passwd.jpg", "passwd.pdf"),
        ("C:\\Users\\alva\\kvitto.png", "kvitto.pdf"),
        ("\x00\x1b[31m.pdf", "[31m.pdf"),
        ("\x00\x1b.pdf", "document.pdf"),
        ("", "document.pdf"),
    ],
)
def test_download_names_are_safe(original, expected):
    assert download_name_for(original, "pdf") == expected
