"""Audit records for things Django itself does: sign-ins and role (group) changes.

These come from django.contrib.auth, which we do not own, so its signals are the only hook.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed

from crm.audit import audit_record
from crm.context import current_user


def _on_logged_in(*, user: Any, **kwargs: Any) -> None:
    audit_record(action="auth.login", actor=user, target=user)


def _on_logged_out(*, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(action="auth.logout", actor=user, target=user)


def _on_login_failed(*, credentials: dict[str, Any], **kwargs: Any) -> None:
    audit_record(
        action="auth.login_failed",
        actor=None,
        object_type="auth.user",
        after={"username": str(credentials.get("username", ""))[:150]},
    )


_ROLE_CHANGE_VERBS = {"post_add": "added", "post_remove": "removed", "pre_clear": "cleared"}


def _on_groups_changed(
    *, instance: Any, action: str, pk_set: set[int] | None, reverse: bool, **kwargs: Any
) -> None:
    verb = _ROLE_CHANGE_VERBS.get(action)
    if verb is None:
        return
    if action == "pre_clear":
        # A clear does not say what it removes (pk_set is None): read it just before, inside
        # the clear's own transaction.
        related = instance.user_set if reverse else instance.groups
        pk_set = set(related.values_list("pk", flat=True))
    if not pk_set:  # adding what is already there, or clearing nothing, changes nothing
        return
    if reverse:  # group.user_set changed: instance is the group, pk_set the users
        users = list(get_user_model().objects.filter(pk__in=pk_set))
        groups = [instance]
    else:
        users = [instance]
        groups = list(Group.objects.filter(pk__in=pk_set))
    for user in users:
        audit_record(
            action=f"auth.roles_{verb}",
            actor=current_user(),
            target=user,
            after={"roles": sorted(group.name for group in groups)},
        )


def connect() -> None:
    user_logged_in.connect(_on_logged_in, dispatch_uid="crm.audit.logged_in")
    user_logged_out.connect(_on_logged_out, dispatch_uid="crm.audit.logged_out")
    user_login_failed.connect(_on_login_failed, dispatch_uid="crm.audit.login_failed")
    m2m_changed.connect(
        _on_groups_changed,
        sender=get_user_model().groups.through,
        dispatch_uid="crm.audit.groups_changed",
    )
