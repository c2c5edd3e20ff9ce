"""The one message model every transport sends and the ledger keeps."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

SENT = "sent"
RETRY = "retry"
FAILED = "failed"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutgoingMessage:
    key: str
    kind: str
    event_id: str
    to_email: str
    to_name: str
    sender_email: str
    sender_name: str
    reply_to: str
    subject: str
    text: str
    html: str
    created_at: datetime
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["attachments"] = [
            {**a, "data": base64.b64encode(a["data"]).decode("ascii")} for a in data["attachments"]
        ]
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> OutgoingMessage:
        data = json.loads(text)
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        data["attachments"] = tuple(
            Attachment(a["filename"], a["content_type"], base64.b64decode(a["data"]))
            for a in data["attachments"]
        )
        data["headers"] = tuple(tuple(h) for h in data["headers"])
        return cls(**data)


@dataclass(frozen=True)
class SendResult:
    """How one message fared: sent, retry on a later run, or failed for good."""

    key: str
    state: str
    provider_id: str = ""
    reason: str = ""
