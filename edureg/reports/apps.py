from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "edureg.reports"
    label = "reports"
    verbose_name = "Báo cáo thống kê"
