from __future__ import annotations

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "edureg.registry"
    label = "registry"
