"""The toolkit's OAuth2 validator, bound to sharing agreements (``OAUTH2_PROVIDER
["OAUTH2_VALIDATOR_CLASS"]``).

A client authenticates only when its secret is right *and* its agreement is in force today:
the client of a revoked, expired or not-yet-valid agreement is refused (``invalid_client``,
401) and the refusal is audited. Each token issued is audited too (never the token itself).
The token view marks the request as audited (``refusal_recorded``) so the generic
``access.denied`` event is not written a second time.
"""

from __future__ import annotations

import base64
import contextvars
from typing import Any
from urllib.parse import unquote_plus

from django.db import transaction
from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator

from edureg.audit import actions
from edureg.audit.services import audit_record
from edureg.sharing.disclosure import agreement_refusal
from edureg.sharing.models import SharingAgreement

_recorded: contextvars.ContextVar[bool] = contextvars.ContextVar("sharing_refusal_recorded",
                                                                 default=False)


def refusal_tracking_start() -> contextvars.Token[bool]:
    return _recorded.set(False)


def refusal_recorded(started: contextvars.Token[bool]) -> bool:
    """Whether a refusal was audited since ``refusal_tracking_start``; ends the tracking."""
    recorded = _recorded.get()
    _recorded.reset(started)
    return recorded


def _agreement_of(client: Any) -> SharingAgreement | None:
    if client is None or getattr(client, "pk", None) is None:
        return None
    return SharingAgreement.objects.select_related("agency").filter(
        application_id=client.pk).first()


def _agreement_named(client_id: str | None) -> SharingAgreement | None:
    if not client_id or "\x00" in client_id:
        return None
    return SharingAgreement.objects.select_related("agency").filter(
        application__client_id=client_id[:100]).first()


def _refused(agreement: SharingAgreement | None, reason: str) -> None:
    data: dict[str, Any] = {"reason": reason, "status": 401, "step": "token"}
    if agreement is not None:
        data |= {"agreement": agreement.pk, "agency": agreement.agency.name}
    label = f"agency:{agreement.agency.code}" if agreement is not None else "agency"
    with transaction.atomic():
        audit_record(actor=None, actor_label=label, action=actions.SHARING_REFUSED,
                     entity="sharing_agreement",
                     entity_id=agreement.pk if agreement is not None else "", data=data)
    _recorded.set(True)


class AgreementValidator(OAuth2Validator):
    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        authenticated = bool(super().authenticate_client(request, *args, **kwargs))
        if not authenticated:
            _refused(_agreement_named(self._claimed_client_id(request)),
                     "bad_client_credentials")
            return False
        agreement = _agreement_of(getattr(request, "client", None))
        if agreement is None:  # a client made outside an agreement never gets a token
            _refused(None, "no_agreement")
            return False
        refusal = agreement_refusal(agreement, on=timezone.localdate())
        if refusal is not None:
            _refused(agreement, refusal[0])
            return False
        return True

    def _claimed_client_id(self, request: Any) -> str | None:
        """The client id the request names (HTTP Basic first, then the body), for the audit of
        a failed authentication; never the secret."""
        encoded = self._extract_basic_auth(request)
        if encoded:
            try:
                decoded = base64.b64decode(encoded).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return None
            return unquote_plus(decoded.split(":", 1)[0])
        client_id = getattr(request, "client_id", None)
        return client_id if isinstance(client_id, str) else None

    def _save_bearer_token(self, token: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        saved = super()._save_bearer_token(token, request, *args, **kwargs)
        agreement = _agreement_of(getattr(request, "client", None))
        if agreement is not None:
            audit_record(actor=None, actor_label=f"agency:{agreement.agency.code}",
                         action=actions.SHARING_TOKEN_ISSUED, entity="sharing_agreement",
                         entity_id=agreement.pk, data={
                             "agreement": agreement.pk, "agency": agreement.agency.name,
                             "expires_in": token.get("expires_in")})
        return saved
