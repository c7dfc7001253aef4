from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from rewards.evaluation import parse_offer_rules
from rewards.models.catalog import Scheme


class Classification(models.TextChoices):
    """What an offer rewards; decides which rules and conditions apply (rewards.evaluation)."""

    PURCHASE_AMOUNT = "purchase_amount", _("Purchase amount based")
    PURCHASE_COUNT = "purchase_count", _("Purchase count based (every Nth purchase)")
    ITEM_QUANTITY = "item_quantity", _("Item quantity / product based")
    SIGN_UP = "sign_up", _("Sign-up")
    REFERRAL = "referral", _("Referral")
    BIRTHDAY = "birthday", _("Birthday")
    NAME_DAY = "name_day", _("Name day")
    ACHIEVEMENT = "achievement", _("Achievement / campaign code")


class OfferType(models.Model):
    """A user-defined type within a classification, to include or exclude offers together."""

    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=50, unique=True)
    classification = models.CharField(
        _("classification"), max_length=30, choices=Classification.choices
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("offer type")
        verbose_name_plural = _("offer types")

    def __str__(self) -> str:
        return self.name


class OfferCategory(models.Model):
    """A business grouping of offers for analysis, such as "marketing" or "loyalty"."""

    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("offer category")
        verbose_name_plural = _("offer categories")

    def __str__(self) -> str:
        return self.name


def validate_offer_rules(*, offer_id: int, classification: str, rules: Any) -> None:
    """Raises ValidationError on the ``rules`` field listing every mistake in the JSON."""
    try:
        parse_offer_rules(offer_id, classification, rules)
    except ValidationError as error:
        raise ValidationError({"rules": error.messages}) from error


class OfferTemplate(models.Model):
    """Pre-filled settings to start new offers from (rewards.services.offers.offer_create)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    classification = models.CharField(
        _("classification"), max_length=30, choices=Classification.choices
    )
    offer_type = models.ForeignKey(
        OfferType, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("type")
    )
    category = models.ForeignKey(
        OfferCategory, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("category")
    )
    rules = models.JSONField(
        _("rules"),
        default=dict,
        blank=True,
        help_text=_(
            "Validity, conditions, award rule, caps and spend conditions (docs/OFFERS.md)."
        ),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("offer template")
        verbose_name_plural = _("offer templates")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        validate_offer_rules(
            offer_id=self.pk or 0, classification=self.classification, rules=self.rules
        )


class Offer(models.Model):
    """A reward offer of a scheme: its conditions and award rule are validated JSON
    (``rules``, read by rewards.evaluation.parse_offer_rules). Draft until a second person
    approves its activation (OfferActivation); effective offers are evaluated."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        EFFECTIVE = "effective", _("Effective")
        NOT_EFFECTIVE = "not_effective", _("Not effective")

    scheme = models.ForeignKey(
        Scheme, on_delete=models.PROTECT, related_name="offers", verbose_name=_("scheme")
    )
    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=50)
    classification = models.CharField(
        _("classification"), max_length=30, choices=Classification.choices
    )
    offer_type = models.ForeignKey(
        OfferType,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="offers",
        verbose_name=_("type"),
    )
    category = models.ForeignKey(
        OfferCategory,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="offers",
        verbose_name=_("category"),
    )
    template = models.ForeignKey(
        OfferTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="offers",
        verbose_name=_("created from template"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    rules = models.JSONField(
        _("rules"),
        default=dict,
        blank=True,
        help_text=_(
            "Validity, conditions, award rule, caps and spend conditions (docs/OFFERS.md)."
        ),
    )
    budget_total_minor = models.BigIntegerField(
        _("total budget (minor units)"),
        null=True,
        blank=True,
        help_text=_("Awarding stops when this much has been awarded. Empty: no budget."),
    )
    budget_used_minor = models.BigIntegerField(_("budget used (minor units)"), default=0)
    latest_effective_at = models.DateTimeField(_("latest effective at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["scheme", "name"]
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        permissions = [
            ("propose_offer_activation", _("Can propose an offer's activation")),
            ("approve_offer_activation", _("Can approve an offer's activation")),
        ]
        indexes = [models.Index(fields=["scheme", "status"], name="offer_scheme_status_idx")]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "code"], name="offer_code_per_scheme"),
            models.CheckConstraint(
                condition=models.Q(budget_used_minor__gte=0)
                & (
                    models.Q(budget_total_minor__isnull=True)
                    | models.Q(budget_used_minor__lte=models.F("budget_total_minor"))
                ),
                name="offer_budget_not_exceeded",
            ),
            models.CheckConstraint(
                condition=models.Q(budget_total_minor__isnull=True)
                | models.Q(budget_total_minor__gt=0),
                name="offer_budget_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        validate_offer_rules(
            offer_id=self.pk or 0, classification=self.classification, rules=self.rules
        )

    @property
    def budget_left_minor(self) -> int | None:
        if self.budget_total_minor is None:
            return None
        return self.budget_total_minor - self.budget_used_minor


class OfferActivation(models.Model):
    """Maker-checker for activating an offer: one person proposes, another decides."""

    class Decision(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    offer = models.ForeignKey(
        Offer, on_delete=models.PROTECT, related_name="activations", verbose_name=_("offer")
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("proposed by"),
    )
    proposed_at = models.DateTimeField(_("proposed at"))
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, default=Decision.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        ordering = ["-proposed_at"]
        verbose_name = _("offer activation")
        verbose_name_plural = _("offer activations")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(decided_by=models.F("proposed_by")),
                name="offer_activation_checker_is_not_maker",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    decision="pending", decided_by__isnull=True, decided_at__isnull=True
                )
                | models.Q(
                    decision__in=["approved", "rejected"],
                    decided_by__isnull=False,
                    decided_at__isnull=False,
                ),
                name="offer_activation_decision_consistent",
            ),
            models.UniqueConstraint(
                fields=["offer"],
                condition=models.Q(decision="pending"),
                name="offer_activation_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"Activation of {self.offer} ({self.get_decision_display()})"
