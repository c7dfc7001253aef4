"""Message templates are checked when saved: syntax, allowed tags, and variables."""

import pytest
from django.core.exceptions import ValidationError

from crm.models import MessageTemplate
from crm.notifications.catalog import EVENTS, Channel, Event
from crm.notifications.rendering import render_message, sample_context, template_errors

pytestmark = pytest.mark.django_db


def _template(**fields) -> MessageTemplate:
    values = {
        "event": Event.CLAIM_APPROVED,
        "channel": Channel.SMS,
        "language": "en",
        "subject": "",
        "body": "Hi {{ customer.first_name }}, claim {{ claim.number }} is approved.",
    }
    return MessageTemplate(**{**values, **fields})


def _errors(template: MessageTemplate) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        template.clean()
    return raised.value.message_dict


def test_a_template_using_its_events_variables_is_valid():
    _template(body="{{ customer.first_name }}: {{ claim.tracking_url }} ({{ site.name }})").clean()


def test_a_syntax_error_is_refused_with_the_parsers_message():
    assert _errors(_template(body="Hi {% if customer.first_name %}there")) == {
        "body": [
            "Template syntax error: Unclosed tag on line 1: 'if'. "
            "Looking for one of: elif, else, endif."
        ]
    }


def test_an_unknown_top_level_variable_is_refused_naming_what_the_event_provides():
    assert _errors(_template(body="Hi {{ custmer.first_name }}, {{ wallet.balance }}")) == {
        "body": [
            "Unknown variables 'custmer', 'wallet'. "
            "The event claim.approved provides: claim, customer, site."
        ]
    }


def test_variables_in_conditions_filters_and_loops_are_checked_too():
    source = (
        "{% if otp.code %}{% endif %}{{ claim.number|default:award.points }}"
        "{% for line in claim.lines %}{{ line }}{{ forloop.counter }}{% endfor %}"
        "{% with total=claim.number %}{{ total }}{% endwith %}"
    )
    assert template_errors(event=Event.CLAIM_APPROVED, source=source) == [
        "Unknown variables 'award', 'otp'. "
        "The event claim.approved provides: claim, customer, site."
    ]


def test_tags_that_reach_outside_the_message_are_refused():
    errors = template_errors(
        event=Event.CLAIM_APPROVED, source="{% include 'base.html' %}{% debug %}"
    )

    assert errors == ["These tags are not allowed in message templates: debug, include."]


def test_loading_a_tag_library_is_refused():
    [error] = template_errors(event=Event.CLAIM_APPROVED, source="{% load static %}")

    assert error.startswith("Template syntax error: 'static' is not a registered tag library.")


def test_an_email_needs_a_subject_and_an_sms_has_none():
    assert _errors(_template(channel=Channel.EMAIL, subject="")) == {
        "subject": ["An email needs a subject."]
    }
    assert _errors(_template(channel=Channel.SMS, subject="Hello")) == {
        "subject": ["An SMS has no subject: leave it empty."]
    }


def test_the_subject_is_checked_like_the_body():
    assert _errors(_template(channel=Channel.EMAIL, subject="{{ wallet.balance }}")) == {
        "subject": [
            "Unknown variable 'wallet'. The event claim.approved provides: claim, customer, site."
        ]
    }


def test_the_default_templates_cover_every_event_channel_and_language_and_are_valid():
    templates = list(MessageTemplate.objects.all())

    assert {(t.event, t.channel, t.language) for t in templates} == {
        (event, channel, language)
        for event in EVENTS
        for channel in Channel.values
        for language in ("en", "sv")
    }
    for template in templates:
        template.full_clean()
        rendered = render_message(
            subject=template.subject, body=template.body, context=sample_context(template.event)
        )
        assert "Ada" in rendered.body or template.event == Event.OTP_CODE
        assert "{{" not in rendered.body


def test_the_default_templates_migration_can_run_twice_and_keeps_edits():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("crm.migrations.0004_default_message_templates")
    edited = MessageTemplate.objects.get(event=Event.CLAIM_APPROVED, channel="sms", language="en")
    edited.body = "Edited by an operator: {{ claim.number }}"
    edited.save()
    count = MessageTemplate.objects.count()

    migration.add_default_templates(apps, schema_editor=None)

    assert MessageTemplate.objects.count() == count
    edited.refresh_from_db()
    assert edited.body == "Edited by an operator: {{ claim.number }}"
