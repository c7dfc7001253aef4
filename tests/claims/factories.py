"""Factories for the customer portal: customers with portal accounts, and real upload files
built in memory with Pillow, pillow-heif and pypdf."""

import io

import factory
from django.contrib.auth import get_user_model
from PIL import Image
from pypdf import PdfWriter

from claims.models import CustomerAccount
from crm.models import Customer

# The EICAR anti-virus test file: harmless, and detected by every scanner as a threat.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    first_name = "Alva"
    last_name = factory.Sequence(lambda n: f"Winner{n}")
    phone = factory.Sequence(lambda n: f"+4670{n:07d}")
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
