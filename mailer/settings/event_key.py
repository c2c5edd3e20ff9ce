"""SendGrid's Event Webhook verification key, read once and checked to be the kind it issues."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

PEM_FENCE = "-----"


def load_event_key(text: str) -> ec.EllipticCurvePublicKey:
    """The ECDSA public key SendGrid shows under Mail Settings (base64, or PEM).

    Raises ValueError saying what is wrong: not base64, not a public key, or a
    key of another kind (an RSA key could never check SendGrid's signatures).
    """
    # Imported here: every command loads the settings, few of them a key.
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    lines = [line.strip() for line in text.strip().splitlines()]
    body = "".join(line for line in lines if not line.startswith(PEM_FENCE))
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "not base64; paste the verification key from SendGrid's Mail Settings, "
            "Event Webhook, Signature Verification"
        ) from None
    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError):
        raise ValueError("not a public key; paste the whole verification key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(
            f"a {type(key).__name__.removesuffix('PublicKey')} key, not ECDSA: SendGrid signs "
            "events with ECDSA (P-256); paste its verification key"
        )
    return key
