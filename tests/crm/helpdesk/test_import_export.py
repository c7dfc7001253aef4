"""Importing customers from a member register (CSV, XML) and exporting them."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.imports.services import (
    customer_import_check,
    customer_import_confirm,
    customer_import_create,
    customer_import_run,
)
from crm.imports.tasks import customer_import_check_task, customer_import_run_task
from crm.models import AuditEvent, Customer, CustomerImport
from tests.crm.helpdesk.factories import CustomerFactory, operator_user

pytestmark = pytest.mark.django_db

HEADER = "member_number;first_name;last_name;phone;email;language;accepts_marketing_sms\n"


@pytest.fixture
def operator(sign_in_verified):
    user = operator_user()
    sign_in_verified(user)
    return user


def upload(client, name: str, content: bytes, **fields):
    return client.post(
        reverse("admin:crm_customerimport_add"),
        {"file": SimpleUploadedFile(name, content), "country_calling_code": "46", **fields},
    )


def errors_of(customer_import: CustomerImport) -> list[tuple[int, str, str]]:
    return list(
        customer_import.errors.order_by("line", "id").values_list("line", "field", "message")
    )


def test_the_dry_run_reports_every_error_with_its_line_and_imports_nothing(client, operator):
    CustomerFactory(phone="+46705550001", email="taken@example.com")
    content = (
        HEADER
        + "M1;Anna;Ek;070-555 00 02;anna@example.com;sv;yes\n"  # line 2: fine
        + "M2;Bo;Ek;12ab;bo@example;xx;maybe\n"  # line 3: four errors
        + "M3;Cia;Ek;;;en;no\n"  # line 4: neither phone nor email
        + "M4;Dan;Ek;+46705550003;anna@example.com;en;no\n"  # line 5: same email as line 2
        + "M5;Eva;Ek;+46705550001;other@example.com;en;no\n"  # line 6: fine, existing customer
        + "M6;Fia;Ek;+46705550001;taken2@example.com;en;\n"  # line 7: same phone as line 6
        + "M7;Gus;Ek;+46705550009;taken@example.com\n"  # line 8: wrong number of fields
    ).encode()
    customers_before = set(Customer.objects.values_list("pk", "phone", "email"))

    response = upload(client, "register.csv", content)

    customer_import = CustomerImport.objects.get()
    assert response.status_code == 302
    assert customer_import.status == "checked"
    assert errors_of(customer_import) == [
        (3, "phone", customer_import.errors.get(line=3, field="phone").message),
        (3, "email", "Not an email address."),
        (3, "language", "Unknown language; use one of en, sv."),
        (3, "accepts_marketing_sms", "Consent is yes or no (also 1/0, true/false, ja/nej)."),
        (4, "phone", "A customer needs a phone number or an email address."),
        (5, "email", "Same email as line 2."),
        (7, "phone", "Same phone as line 6."),
        (8, "", "The row has 5 fields; the header has 7."),
    ]
    assert customer_import.errors.get(line=3, field="phone").message.startswith(
        "Not a phone number"
    )
    assert (customer_import.total_rows, customer_import.valid_rows, customer_import.error_rows) == (
        7,
        2,
        5,
    )
    assert (customer_import.new_rows, customer_import.matched_rows) == (1, 1)
    assert set(Customer.objects.values_list("pk", "phone", "email")) == customers_before
    page = client.get(reverse("admin:crm_customerimport_change", args=[customer_import.pk]))
    assert "Same phone as line 6." in page.content.decode()
    report = client.get(reverse("admin:crm_customerimport_errors", args=[customer_import.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert rows[0] == ["line", "field", "value", "error"]
    assert [row[0] for row in rows[1:]] == ["3", "3", "3", "3", "4", "5", "7", "8"]


def test_with_errors_nothing_is_imported_unless_the_valid_rows_are_asked_for(client, operator):
    content = (
        HEADER + "M1;Anna;Ek;0705550002;anna@example.com;sv;yes\nM2;Bo;Ek;nope;;;\n"
    ).encode()
    upload(client, "register.csv", content)
    customer_import = CustomerImport.objects.get()

    refused = client.post(
        reverse("admin:crm_customerimport_confirm", args=[customer_import.pk]), {}
    )
    customer_import.refresh_from_db()
    assert refused.status_code == 302
    assert customer_import.status == "checked"
    assert not Customer.objects.exists()

    client.post(
        reverse("admin:crm_customerimport_confirm", args=[customer_import.pk]),
        {"import_valid_rows": "on"},
    )
    customer_import.refresh_from_db()
    assert customer_import.status == "imported"
    assert list(
        Customer.objects.values_list(
            "member_number", "phone", "email", "preferred_language", "accepts_marketing_sms"
        )
    ) == [("M1", "+46705550002", "anna@example.com", "sv", True)]


def test_a_valid_import_creates_new_customers_and_completes_existing_ones_exactly(client, operator):
    by_phone = CustomerFactory(first_name="", last_name="", phone="+46705550010", email="")
    by_email = CustomerFactory(
        first_name="Kept", phone="", email="Known@Example.com", member_number=""
    )
    by_member = CustomerFactory(
        first_name="Mem", phone="+46705550030", email="m@example.com", member_number="M30"
    )
    content = (
        HEADER
        + "M10;Lisa;Berg;0705550010;lisa@example.com;en;yes\n"  # fills names, email, member no.
        + "M20;Other;Name;+46705550020;KNOWN@example.com;sv;no\n"  # fills phone, member no.
        + "M30;Mem;;;m@example.com;;\n"  # matches by member number and email, nothing to fill
        + "M40;New;Person;0046 70 555 00 40;new@example.com;Swedish;ja\n"  # created
    ).encode()

    upload(client, "register.csv", content)
    customer_import = CustomerImport.objects.get()
    assert (customer_import.new_rows, customer_import.matched_rows, customer_import.error_rows) == (
        1,
        3,
        0,
    )
    client.post(reverse("admin:crm_customerimport_confirm", args=[customer_import.pk]))

    customer_import.refresh_from_db()
    assert customer_import.status == "imported"
    assert (
        customer_import.created_count,
        customer_import.updated_count,
        customer_import.unchanged_count,
    ) == (1, 2, 1)
    by_phone.refresh_from_db()
    by_email.refresh_from_db()
    by_member.refresh_from_db()
    assert (by_phone.first_name, by_phone.last_name, by_phone.email, by_phone.member_number) == (
        "Lisa",
        "Berg",
        "lisa@example.com",
        "M10",
    )
    # consent of an existing customer is never changed by a file
    assert by_phone.accepts_marketing_sms is False
    assert (by_email.first_name, by_email.phone, by_email.email, by_email.member_number) == (
        "Kept",
        "+46705550020",
        "Known@Example.com",
        "M20",
    )
    new = Customer.objects.get(member_number="M40")
    assert (new.phone, new.email, new.preferred_language, new.accepts_marketing_sms) == (
        "+46705550040",
        "new@example.com",
        "sv",
        True,
    )
    assert Customer.objects.count() == 4
    assert AuditEvent.objects.filter(action="customer.import_completed").count() == 2
    assert AuditEvent.objects.get(action="customer_import.import").after == {
        "created": 1,
        "updated": 2,
        "unchanged": 1,
        "error_rows": 0,
    }

    # Importing the same file again creates nothing and changes nothing
    upload(client, "register.csv", content)
    again = CustomerImport.objects.order_by("-pk").first()
    client.post(reverse("admin:crm_customerimport_confirm", args=[again.pk]))
    again.refresh_from_db()
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 4)
    assert Customer.objects.count() == 4


def test_an_xml_register_imports_with_line_numbers(client, operator):
    content = b"""<?xml version="1.0" encoding="UTF-8"?>
<members>
  <member member_number="X1">
    <first_name>Ada</first_name>
    <phone>070 555 00 50</phone>
  </member>
  <member member_number="X2">
    <first_name>Bad</first_name>
    <email>not-an-email</email>
  </member>
</members>
"""
    upload(client, "register.xml", content)
    customer_import = CustomerImport.objects.get()
    assert errors_of(customer_import) == [(7, "email", "Not an email address.")]

    client.post(
        reverse("admin:crm_customerimport_confirm", args=[customer_import.pk]),
        {"import_valid_rows": "on"},
    )
    assert list(Customer.objects.values_list("member_number", "first_name", "phone")) == [
        ("X1", "Ada", "+46705550050")
    ]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE members [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<members><member><first_name>&lol9;</first_name><phone>0705550060</phone></member></members>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE members [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<members><member><first_name>&secret;</first_name><phone>0705550061</phone></member></members>
"""


@pytest.mark.parametrize("content", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["bomb", "external"])
def test_xml_with_entities_is_refused_and_nothing_imported(client, operator, content):
    upload(client, "register.xml", content)

    customer_import = CustomerImport.objects.get()
    [(line, field, message)] = errors_of(customer_import)
    assert (line, field) == (2, "")
    assert message.startswith("The XML declares a DTD or entities, which are refused for safety")
    assert customer_import.valid_rows == 0
    response = client.post(reverse("admin:crm_customerimport_confirm", args=[customer_import.pk]))
    assert response.status_code == 302
    customer_import.refresh_from_db()
    assert customer_import.status == "checked"
    assert not Customer.objects.exists()


def test_large_files_run_through_the_celery_tasks_with_progress(operator, settings):
    settings.CRM_IMPORT_INLINE_MAX_BYTES = 10
    lines = [HEADER] + [f"B{n};Bulk;{n};;bulk{n}@example.com;en;no\n" for n in range(2500)]
    customer_import = customer_import_create(
        upload=SimpleUploadedFile("bulk.csv", "".join(lines).encode()),
        country_calling_code="46",
        import_valid_rows=False,
        actor=operator,
    )

    assert customer_import_check_task(customer_import.pk) == "checked"
    customer_import.refresh_from_db()
    assert (
        customer_import.processed_rows,
        customer_import.valid_rows,
        customer_import.error_rows,
    ) == (2500, 2500, 0)
    customer_import_confirm(
        customer_import=customer_import, actor=operator, import_valid_rows=False
    )
    assert customer_import_run_task(customer_import.pk) == "imported"
    assert customer_import_run_task(customer_import.pk) == "imported"  # a redelivery does nothing

    customer_import.refresh_from_db()
    assert customer_import.created_count == 2500
    assert Customer.objects.filter(member_number__startswith="B").count() == 2500


def test_data_changed_after_the_dry_run_refuses_the_whole_import(operator):
    content = (HEADER + "M1;A;B;0705550070;;;\nM2;C;D;0705550071;;;\n").encode()
    customer_import = customer_import_create(
        upload=SimpleUploadedFile("r.csv", content),
        country_calling_code="46",
        import_valid_rows=False,
        actor=operator,
    )
    customer_import_check(import_id=customer_import.pk)
    customer_import_confirm(
        customer_import=customer_import, actor=operator, import_valid_rows=False
    )
    # Meanwhile line 3's phone and member number come to belong to two different customers
    with_phone = CustomerFactory(phone="+46705550071")
    with_number = CustomerFactory(member_number="M2")

    result = customer_import_run(import_id=customer_import.pk)

    assert result.status == "refused"
    assert errors_of(result) == [
        (
            3,
            "",
            f"The row names two existing customers: phone is customer #{with_phone.pk}, "
            f"member number is customer #{with_number.pk}.",
        )
    ]
    assert not Customer.objects.filter(phone="+46705550070").exists()


def test_export_streams_the_filtered_customers_and_is_audited(client, operator):
    CustomerFactory(first_name="=cmd", last_name="One", preferred_language="sv")
    CustomerFactory(first_name="Two", preferred_language="en")

    response = client.get(reverse("admin:crm_customer_export"), {"preferred_language__exact": "sv"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "member_number", "first_name", "last_name"]
    assert [row[2] for row in rows[1:]] == ["'=cmd"]
    event = AuditEvent.objects.get(action="customer.export")
    assert event.actor_id == operator.pk
    assert event.after == {"rows": 1, "filters": "preferred_language__exact=sv"}


def test_the_helpdesk_can_neither_import_nor_export(client, sign_in_verified):
    from tests.crm.helpdesk.factories import helpdesk_user

    sign_in_verified(helpdesk_user())

    assert client.get(reverse("admin:crm_customer_export")).status_code == 403
    assert upload(client, "r.csv", (HEADER + "M1;A;B;0705550080;;;\n").encode()).status_code == 403
    assert not CustomerImport.objects.exists()
