"""Factories for crm: organisations, customers, staff users per role, and TOTP devices."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import ChannelPartner, Client, Customer, StaffProfile
from crm.roles import ADMIN_ROLES, Role

STAFF_PASSWORD = "correct-horse-battery-staple-42"


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")
    code = factory.Sequence(lambda n: f"client-{n}")


class ChannelPartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelPartner

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Region {n}")
    code = factory.Sequence(lambda n: f"region-{n}")
    kind = ChannelPartner.Kind.REGION


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Winner{n}")
    phone = factory.Sequence(lambda n: f"+4670{n:07d}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(STAFF_PASSWORD)


class StaffProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffProfile

    user = factory.SubFactory(UserFactory)


def staff_user(role: str, **fields: object):
    """A user holding ``role`` (its group) with a StaffProfile. Only the roles that work in
    the admin are is_staff. A client manager is tied to a client, a channel partner to a
    partner of a client; the other roles are agency staff (no client).
    """
    client = channel_partner = None
    if role == Role.CHANNEL_PARTNER:
        channel_partner = ChannelPartnerFactory()
        client = channel_partner.client
    elif role == Role.CLIENT_MANAGER:
        client = ClientFactory()
    fields.setdefault("username", factory.Sequence(lambda n: f"{role}{n}"))
    fields.setdefault("is_staff", role in ADMIN_ROLES)
    user = UserFactory(**fields)
    StaffProfileFactory(user=user, client=client, channel_partner=channel_partner)
    user.groups.add(Group.objects.get(name=role))
    return user


def give_totp_device(user) -> TOTPDevice:
    """A confirmed authenticator app for ``user``."""
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def totp_token(device: TOTPDevice) -> str:
    """The code the user's authenticator app shows now."""
    value = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift
    )
    return f"{value:0{device.digits}d}"
