"""The tenant root: Authority (Sở GDĐT) → School → SchoolYear."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class SchoolLevel(models.TextChoices):
    PRESCHOOL = "mam_non", _("Mầm non")
    PRIMARY = "tieu_hoc", _("Tiểu học")
    LOWER_SECONDARY = "thcs", _("THCS")
    UPPER_SECONDARY = "thpt", _("THPT")
    MULTI_LEVEL = "lien_cap", _("Liên cấp")


class Ownership(models.TextChoices):
    PUBLIC = "public", _("Công lập")
    PRIVATE = "private", _("Ngoài công lập")


class Authority(models.Model):
    code = models.CharField(_("mã cơ quan"), max_length=20, unique=True)
    name = models.CharField(_("tên cơ quan"), max_length=200)
    province_code = models.CharField(_("tỉnh/thành phố"), max_length=10)
    admin_units_version = models.CharField(max_length=20)

    class Meta:
        verbose_name = _("Sở Giáo dục và Đào tạo")
        verbose_name_plural = _("Sở Giáo dục và Đào tạo")

    def __str__(self) -> str:
        return self.name


class School(models.Model):
    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="schools")
    code = models.CharField(_("mã trường"), max_length=20, unique=True)
    name = models.CharField(_("tên trường"), max_length=200)
    level = models.CharField(_("cấp học"), max_length=10, choices=SchoolLevel.choices)
    ownership = models.CharField(_("loại hình"), max_length=10, choices=Ownership.choices)
    commune_code = models.CharField(_("xã/phường"), max_length=10)
    admin_units_version = models.CharField(max_length=20)
    address = models.CharField(_("địa chỉ"), max_length=300, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("trường")
        verbose_name_plural = _("trường")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SchoolYearStatus(models.TextChoices):
    OPEN = "open", _("Đang diễn ra")
    CLOSED = "closed", _("Đã khoá")


class SchoolYear(models.Model):
    """A school's year, e.g. 2025–2026; closed years are read-only."""

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="years")
    start_year = models.PositiveSmallIntegerField(_("năm bắt đầu"))
    starts_on = models.DateField(_("ngày bắt đầu"))
    ends_on = models.DateField(_("ngày kết thúc"))
    status = models.CharField(
        max_length=10, choices=SchoolYearStatus.choices, default=SchoolYearStatus.OPEN
    )

    class Meta:
        verbose_name = _("năm học")
        verbose_name_plural = _("năm học")
        constraints = [
            models.UniqueConstraint(fields=["school", "start_year"], name="uniq_school_year"),
            models.CheckConstraint(
                condition=models.Q(ends_on__gt=models.F("starts_on")),
                name="school_year_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.start_year}–{self.start_year + 1}"
