"""The default ``claim.delivered`` templates (English and Swedish, SMS and email) now give
the winner their voucher code (``claim.voucher_code``, sent for voucher and e-voucher prizes).

Data only. Idempotent and safe for operators' work: a template is updated only while its
subject and body are still exactly the old default (from 0004); an edited template is left
as it is. Reversing puts back the old default, again only where the new default is unchanged.
"""

from django.db import migrations

# (channel, language, old subject, old body, new subject, new body)
CHANGES = [
    (
        "sms",
        "en",
        "",
        "Hi {{ customer.first_name }}, {{ claim.prize_name }} has been delivered. Enjoy! "
        "Claim {{ claim.number }}",
        "",
        "Hi {{ customer.first_name }}, {{ claim.prize_name }} has been delivered."
        "{% if claim.voucher_code %} Your voucher code: {{ claim.voucher_code }}{% endif %} "
        "Enjoy! Claim {{ claim.number }}",
    ),
    (
        "email",
        "en",
        "{{ claim.prize_name }} has been delivered",
        "Hi {{ customer.first_name }},\n\n{{ claim.prize_name }} (claim {{ claim.number }}) "
        "has been delivered. Enjoy your prize!\n\n{{ site.name }}",
        "{{ claim.prize_name }} has been delivered",
        "Hi {{ customer.first_name }},\n\n{{ claim.prize_name }} (claim {{ claim.number }}) "
        "has been delivered. Enjoy your prize!\n\n"
        "{% if claim.voucher_code %}Your voucher code: {{ claim.voucher_code }}\n"
        "You can also see it on your claim's page: {{ claim.url }}\n\n{% endif %}"
        "{{ site.name }}",
    ),
    (
        "sms",
        "sv",
        "",
        "Hej {{ customer.first_name }}! {{ claim.prize_name }} har levererats. Mycket nöje! "
        "Anmälan {{ claim.number }}",
        "",
        "Hej {{ customer.first_name }}! {{ claim.prize_name }} har levererats."
        "{% if claim.voucher_code %} Din kod: {{ claim.voucher_code }}{% endif %} "
        "Mycket nöje! Anmälan {{ claim.number }}",
    ),
    (
        "email",
        "sv",
        "{{ claim.prize_name }} har levererats",
        "Hej {{ customer.first_name }},\n\n{{ claim.prize_name }} (anmälan {{ claim.number }}) "
        "har levererats. Mycket nöje med din vinst!\n\n{{ site.name }}",
        "{{ claim.prize_name }} har levererats",
        "Hej {{ customer.first_name }},\n\n{{ claim.prize_name }} (anmälan {{ claim.number }}) "
        "har levererats. Mycket nöje med din vinst!\n\n"
        "{% if claim.voucher_code %}Din kod till värdebeviset: {{ claim.voucher_code }}\n"
        "Du ser den också på sidan för din anmälan: {{ claim.url }}\n\n{% endif %}"
        "{{ site.name }}",
    ),
]


def _replace(apps, *, forwards: bool) -> None:
    MessageTemplate = apps.get_model("crm", "MessageTemplate")
    for channel, language, old_subject, old_body, new_subject, new_body in CHANGES:
        if not forwards:
            old_subject, old_body, new_subject, new_body = (
                new_subject,
                new_body,
                old_subject,
                old_body,
            )
        MessageTemplate.objects.filter(
            event="claim.delivered",
            channel=channel,
            language=language,
            subject=old_subject,
            body=old_body,
        ).update(subject=new_subject, body=new_body)


def add_voucher_code(apps, schema_editor):
    _replace(apps, forwards=True)


def remove_voucher_code(apps, schema_editor):
    _replace(apps, forwards=False)


class Migration(migrations.Migration):
    dependencies = [("crm", "0007_default_draw_message_templates")]

    operations = [migrations.RunPython(add_voucher_code, remove_voucher_code)]
