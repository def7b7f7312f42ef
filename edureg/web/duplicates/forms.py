"""The review queue's forms: parsers only. What a reason must be, and who may, is the services'
business (``registry.duplicate_review``, ``registry.merge``)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from edureg.web.quality.forms import _ServiceErrors

_ID_MAX = 2**63 - 1
_REASON = {"rows": 2, "maxlength": "300"}


class NotSameForm(_ServiceErrors):
    reason = forms.CharField(label=_("Lý do"), required=False,
                             widget=forms.Textarea(attrs=_REASON),
                             help_text=_("Ví dụ: khác cha mẹ, khác nơi sinh."))


class MergeForm(_ServiceErrors):
    kept = forms.IntegerField(min_value=1, max_value=_ID_MAX,
                              error_messages={"required": _("Hãy chọn hồ sơ giữ lại."),
                                              "invalid": _("Hãy chọn hồ sơ giữ lại.")})
    reason = forms.CharField(label=_("Lý do gộp"), required=False,
                             widget=forms.Textarea(attrs=_REASON))


class UnmergeForm(_ServiceErrors):
    reason = forms.CharField(label=_("Lý do hoàn tác"), required=False,
                             widget=forms.Textarea(attrs=_REASON))
