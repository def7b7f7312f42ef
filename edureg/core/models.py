"""The field catalogue: for every field of every entity, its Vietnamese label, sensitivity,
legal basis, when it is required and how often it must be confirmed.

The official appendices (Decision 1230/QĐ-SGDĐT) are not available, so the catalogue is data:
versioned, loaded from a TOML file (``edureg catalogue load``), one version active at a time.
It holds no personal data.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Sensitivity(models.TextChoices):
    BASIC = "basic", _("Dữ liệu cá nhân cơ bản")
    SENSITIVE = "sensitive", _("Dữ liệu cá nhân nhạy cảm")
    NONE = "none", _("Không phải dữ liệu cá nhân")


class FieldCatalogue(models.Model):
    version = models.CharField(max_length=30, unique=True)
    source = models.CharField(max_length=300)
    loaded_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True),
                name="one_active_field_catalogue",
            ),
        ]

    def __str__(self) -> str:
        return self.version


class UpdateGroup(models.Model):
    catalogue = models.ForeignKey(FieldCatalogue, on_delete=models.CASCADE,
                                  related_name="update_groups")
    code = models.CharField(max_length=30)
    label = models.CharField(max_length=200)
    max_age_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["catalogue", "code"], name="uniq_update_group"),
        ]


class FieldSpec(models.Model):
    catalogue = models.ForeignKey(FieldCatalogue, on_delete=models.CASCADE,
                                  related_name="fields")
    entity = models.CharField(max_length=30)
    name = models.CharField(max_length=60)
    label = models.CharField(max_length=200)
    category = models.CharField(max_length=30)
    sensitivity = models.CharField(max_length=10, choices=Sensitivity.choices)
    identifying = models.BooleanField(default=False)
    legal_basis = models.CharField(max_length=300)
    code_list = models.CharField(max_length=40, blank=True)
    # When required: an empty level/status list means at every school level / in every status.
    required = models.BooleanField(default=False)
    required_levels = models.JSONField(default=list, blank=True)
    required_statuses = models.JSONField(default=list, blank=True)
    update_group = models.CharField(max_length=30)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["catalogue", "entity", "name"],
                                    name="uniq_field_spec"),
        ]
        ordering = ["entity", "id"]

    def __str__(self) -> str:
        return f"{self.entity}.{self.name}"
