"""Default message templates (English and Swedish, SMS and email) for the lucky-draw events
``draw.winner_drawn`` and ``draw.reserve_promoted``.

Data only, separate from the schema migration 0006. Idempotent: a template that already
exists for an event, channel and language is left as the operators edited it.
"""

from django.db import migrations

# (event, channel, language, purpose, subject, body)
DEFAULT_TEMPLATES = [
    (
        "draw.winner_drawn",
        "sms",
        "en",
        "transactional",
        "",
        "Congratulations {{ customer.first_name }}! You have won {{ draw.prize_name }} in the "
        "prize draw of {{ draw.campaign_name }}. Claim it{% if draw.claim_deadline_on %} by "
        "{{ draw.claim_deadline_on }}{% endif %} at {{ draw.claim_url }}",
    ),
    (
        "draw.winner_drawn",
        "email",
        "en",
        "transactional",
        "You have won {{ draw.prize_name }}!",
        "Hi {{ customer.first_name }},\n\n"
        "Congratulations: you were drawn as a winner of {{ draw.prize_name }} in the prize draw "
        "of {{ draw.campaign_name }}.\n\n"
        "To receive your prize, sign in and claim it{% if draw.claim_deadline_on %} by "
        "{{ draw.claim_deadline_on }}{% endif %}:\n{{ draw.claim_url }}\n\n"
        "{% if draw.claim_deadline_on %}A prize that is not claimed in time goes to the next "
        "person on the reserve list.\n\n{% endif %}{{ site.name }}",
    ),
    (
        "draw.winner_drawn",
        "sms",
        "sv",
        "transactional",
        "",
        "Grattis {{ customer.first_name }}! Du har vunnit {{ draw.prize_name }} i utlottningen "
        "{{ draw.campaign_name }}. Hämta ut din vinst{% if draw.claim_deadline_on %} senast "
        "{{ draw.claim_deadline_on }}{% endif %} på {{ draw.claim_url }}",
    ),
    (
        "draw.winner_drawn",
        "email",
        "sv",
        "transactional",
        "Du har vunnit {{ draw.prize_name }}!",
        "Hej {{ customer.first_name }},\n\n"
        "Grattis! Du har dragits som vinnare av {{ draw.prize_name }} i utlottningen "
        "{{ draw.campaign_name }}.\n\n"
        "Logga in och hämta ut din vinst{% if draw.claim_deadline_on %} senast "
        "{{ draw.claim_deadline_on }}{% endif %}:\n{{ draw.claim_url }}\n\n"
        "{% if draw.claim_deadline_on %}En vinst som inte hämtas ut i tid går vidare till nästa "
        "person på reservlistan.\n\n{% endif %}{{ site.name }}",
    ),
    (
        "draw.reserve_promoted",
        "sms",
        "en",
        "transactional",
        "",
        "Good news {{ customer.first_name }}! You were a reserve in the prize draw of "
        "{{ draw.campaign_name }} and now win {{ draw.prize_name }}. Claim it"
        "{% if draw.claim_deadline_on %} by {{ draw.claim_deadline_on }}{% endif %} at "
        "{{ draw.claim_url }}",
    ),
    (
        "draw.reserve_promoted",
        "email",
        "en",
        "transactional",
        "A prize has passed to you: {{ draw.prize_name }}",
        "Hi {{ customer.first_name }},\n\n"
        "Good news: you were on the reserve list of the prize draw of {{ draw.campaign_name }}, "
        "and a winner's prize has now passed to you. You win {{ draw.prize_name }}.\n\n"
        "To receive it, sign in and claim it{% if draw.claim_deadline_on %} by "
        "{{ draw.claim_deadline_on }}{% endif %}:\n{{ draw.claim_url }}\n\n{{ site.name }}",
    ),
    (
        "draw.reserve_promoted",
        "sms",
        "sv",
        "transactional",
        "",
        "Goda nyheter {{ customer.first_name }}! Du var reserv i utlottningen "
        "{{ draw.campaign_name }} och vinner nu {{ draw.prize_name }}. Hämta ut din vinst"
        "{% if draw.claim_deadline_on %} senast {{ draw.claim_deadline_on }}{% endif %} på "
        "{{ draw.claim_url }}",
    ),
    (
        "draw.reserve_promoted",
        "email",
        "sv",
        "transactional",
        "En vinst har gått vidare till dig: {{ draw.prize_name }}",
        "Hej {{ customer.first_name }},\n\n"
        "Goda nyheter: du stod på reservlistan i utlottningen {{ draw.campaign_name }}, och en "
        "vinnares vinst har nu gått vidare till dig. Du vinner {{ draw.prize_name }}.\n\n"
        "Logga in och hämta ut din vinst{% if draw.claim_deadline_on %} senast "
        "{{ draw.claim_deadline_on }}{% endif %}:\n{{ draw.claim_url }}\n\n"
        "{{ site.name }}",
    ),
]


def add_default_draw_templates(apps, schema_editor):
    MessageTemplate = apps.get_model("crm", "MessageTemplate")
    for event, channel, language, purpose, subject, body in DEFAULT_TEMPLATES:
        MessageTemplate.objects.get_or_create(
            event=event,
            channel=channel,
            language=language,
            defaults={"purpose": purpose, "subject": subject, "body": body, "is_active": True},
        )


class Migration(migrations.Migration):
    dependencies = [("crm", "0006_draw_events")]

    operations = [migrations.RunPython(add_default_draw_templates, migrations.RunPython.noop)]
