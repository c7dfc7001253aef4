"""Factories for the notification engine's tests (customers, templates, messages)."""

import factory

from crm.models import Customer, MessageTemplate, OutboundMessage
from crm.notifications.catalog import Channel, Event, Purpose


class NotifiedCustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Notified{n}")
    phone = factory.Sequence(lambda n: f"+4673{n:07d}")
    email = factory.Sequence(lambda n: f"notified{n}@example.com")
    preferred_language = "en"


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    """A template for an event, channel and language; replaces the default one if present."""

    class Meta:
        model = MessageTemplate
        django_get_or_create = ["event", "channel", "language"]

    event = Event.CLAIM_APPROVED
    channel = Channel.SMS
    language = "en"
    purpose = Purpose.TRANSACTIONAL
    subject = factory.LazyAttribute(
        lambda template: "Claim {{ claim.number }}" if template.channel == Channel.EMAIL else ""
    )
    body = "Hi {{ customer.first_name }}, claim {{ claim.number }} is approved."
    is_active = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        template = super()._create(model_class, *args, **kwargs)
        # get_or_create found the default template: make it say what the test asked for.
        for name, value in kwargs.items():
            setattr(template, name, value)
        template.full_clean()
        template.save()
        return template


class OutboundMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutboundMessage

    customer = factory.SubFactory(NotifiedCustomerFactory)
    event = Event.CLAIM_APPROVED
    channel = Channel.SMS
    purpose = Purpose.TRANSACTIONAL
    language = "en"
    recipient = factory.LazyAttribute(
        lambda message: (
            message.customer.phone if message.channel == Channel.SMS else message.customer.email
        )
    )
    subject = ""
    body = "Hi Ada, claim C-1 is approved."
    status = OutboundMessage.Status.QUEUED
    idempotency_key = factory.Sequence(lambda n: f"test-event-{n}")
