"""The Google Form's session question, kept in step with the roster (Forms API v1).

One forms.get learns the question and the form's revision; one
forms.batchUpdate (updateItem on that question's options, guarded by
writeControl.requiredRevisionId, so an organizer's edit made meanwhile is
never overwritten) changes it; forms.setPublishSettings opens or closes the
form. Calls go through google-auth's AuthorizedSession with the forms.body
scope only, and 429/5xx/network errors are retried with the bounded backoff every
HTTP client shares (mailer.retry).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mailer.core.errors import ConfigError, MailerError
from mailer.core.retry import Retry, with_retries

if TYPE_CHECKING:
    import requests

    from mailer.settings.config import Settings

SCOPES = ["https://www.googleapis.com/auth/forms.body"]  # the form's questions, nothing else
API = "https://forms.googleapis.com"
ID_IN_URL = re.compile(r"/forms/d/(?:e/)?([a-zA-Z0-9_-]+)")
ATTEMPTS = 6
MAX_RETRY_SECONDS = 100


class FormError(MailerError):
    """The form could not be read or changed; the signups run itself went through."""


class Conflict(FormError):
    """The form changed between mailer's read and its write."""


def form_id(text: str) -> str:
    """The id from a form's edit URL, or the id itself."""
    match = ID_IN_URL.search(text)
    return match.group(1) if match else text.strip()


@dataclass(frozen=True)
class Question:
    item_id: str
    index: int  # the item's place in the form
    title: str
    options: tuple[str, ...]
    item: dict[str, Any]  # as forms.get gave it


@dataclass(frozen=True)
class FormState:
    revision: str
    question: Question
    accepting: bool | None  # None: a form made before publish settings existed


class FormsClient:
    def __init__(
        self,
        session: requests.Session,
        form: str,
        api: str = API,
        timeout: float = 60,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.session = session
        self.form = form_id(form)
        self.api = api.rstrip("/")
        self.timeout = timeout
        self.sleep = sleep
        self.calls = 0

    def read(self, question: str) -> FormState:
        """The form's revision, the session question (by its title) and whether it is open."""
        form = self._call("GET", "")
        items = form.get("items", [])
        wanted = " ".join(question.split()).casefold()
        for index, item in enumerate(items):
            if " ".join(str(item.get("title", "")).split()).casefold() != wanted:
                continue
            choice = item.get("questionItem", {}).get("question", {}).get("choiceQuestion")
            if choice is None:
                raise FormError(f"the form's question {question!r} is not a multiple choice")
            options = tuple(o.get("value", "") for o in choice.get("options", []))
            found = Question(item["itemId"], index, item.get("title", ""), options, item)
            state = form.get("publishSettings", {}).get("publishState", {})
            accepting = state.get("isAcceptingResponses") if state else None
            return FormState(form.get("revisionId", ""), found, accepting)
        titles = ", ".join(repr(i.get("title", "")) for i in items) or "none"
        raise FormError(
            f"the form has no question titled {question!r} (questions: {titles}); "
            "set [form] question in mailer.toml"
        )

    def set_options(self, state: FormState, options: Sequence[str]) -> None:
        """Replace the question's choices, only if the form is still at `state.revision`."""
        item = dict(state.question.item)
        question = dict(item["questionItem"]["question"])
        choice = dict(question["choiceQuestion"])
        choice["options"] = [{"value": text} for text in options]
        question["choiceQuestion"] = choice
        item["questionItem"] = {**item["questionItem"], "question": question}
        body = {
            "requests": [
                {
                    "updateItem": {
                        "item": item,
                        "location": {"index": state.question.index},
                        "updateMask": "questionItem.question.choiceQuestion.options",
                    }
                }
            ],
            "writeControl": {"requiredRevisionId": state.revision},
        }
        self._call("POST", ":batchUpdate", body)

    def set_accepting(self, accepting: bool) -> None:
        body = {
            "publishSettings": {
                "publishState": {"isPublished": True, "isAcceptingResponses": accepting}
            },
            "updateMask": "publishState",
        }
        self._call("POST", ":setPublishSettings", body)

    def _call(self, method: str, suffix: str, body: dict[str, Any] | None = None) -> Any:
        try:
            return with_retries(
                lambda: self._once(method, suffix, body),
                ATTEMPTS,
                MAX_RETRY_SECONDS,
                longest_wait=60.0,
                sleep=self.sleep,
            )
        except Retry as err:
            raise FormError(
                f"Google Forms is not answering ({err}) after {ATTEMPTS} tries; the next run"
                " tries again"
            ) from None

    def _once(self, method: str, suffix: str, body: dict[str, Any] | None) -> Any:
        # Imported here: a site without a form never loads requests or google-auth.
        import requests
        from google.auth import exceptions as auth_errors

        self.calls += 1
        url = f"{self.api}/v1/forms/{self.form}{suffix}"
        try:
            answer = self.session.request(method, url, json=body, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout, auth_errors.TransportError) as err:
            raise Retry(f"network: {type(err).__name__}") from None
        except auth_errors.RefreshError as err:
            raise FormError(f"Google refused the service account's key ({err})") from None
        if answer.status_code == 429 or answer.status_code >= 500:
            after = answer.headers.get("Retry-After", "")
            wait = float(after) if after.replace(".", "", 1).isdigit() else None
            raise Retry(str(answer.status_code), wait)
        if answer.status_code >= 400:
            raise self._explain(answer)
        return answer.json() if answer.content else {}

    def _explain(self, answer: requests.Response) -> FormError:
        try:
            error = answer.json().get("error", {})
        except ValueError:
            error = {}
        message = str(error.get("message", answer.reason))
        if answer.status_code == 400 and "revision" in message.casefold():
            return Conflict(message)
        if answer.status_code == 403:
            return FormError(
                f"Google refused access to form {self.form}: add the service account as an"
                " editor of the form (⋮ → Add collaborators)"
            )
        if answer.status_code == 404:
            return FormError(f"no form with id {self.form}: check [form] id in mailer.toml")
        return FormError(f"Google Forms answered {answer.status_code}: {message}")


@dataclass
class FormReport:
    """What keeping the form in step did this run."""

    options: tuple[str, ...] = ()
    accepting: bool = True
    changed: bool = False
    warnings: list[str] = field(default_factory=list)


def keep_in_step(
    client: FormsClient,
    question: str,
    options: tuple[str, ...],
    accepting: bool,
    pushed: tuple[str, ...] | None = None,
) -> FormReport:
    """Make the session question offer `options` and the form accept or refuse responses.

    A write refused because the form changed meanwhile is placed again on a
    fresh read, once, unless the change was to these choices themselves: then,
    or on a second refusal, Conflict is raised for the run to report.
    With nothing to offer the choices stay as they are and the form closes.
    """
    report = FormReport(options, accepting)
    state = client.read(question)
    by_hand = [o for o in state.question.options if pushed is not None and o not in pushed]
    if options and by_hand and state.question.options != options:
        report.warnings = [
            f"the choices of {question!r} were edited in the form"
            f" ({', '.join(map(repr, by_hand))}); they are replaced by the sessions of the"
            " Events tab, which are mailer's to offer"
        ]
    if options and state.question.options != options:
        try:
            client.set_options(state, options)
        except Conflict:
            # Someone edited the form since the read. Their edit elsewhere in the form is
            # theirs to keep and ours to write around; an edit of these very choices is not
            # ours to overwrite.
            fresh = client.read(question)
            if fresh.question.options != state.question.options:
                raise Conflict(
                    f"the choices of {question!r} were edited in the form while mailer was"
                    " changing them; they are left as edited, and the next run tries again"
                ) from None
            state = fresh
            client.set_options(state, options)
        report.changed = True
    if state.accepting is None:
        if not accepting:
            report.warnings += [
                "this form has no publish settings (it was made before 2025): close it by"
                " hand (Responses → Accepting responses)"
            ]
    elif state.accepting != accepting:
        client.set_accepting(accepting)
        report.changed = True
    return report


def open_forms(settings: Settings) -> FormsClient:
    """The form client for `[form]`, signed in as the workbook's service account."""
    from google.auth.transport.requests import AuthorizedSession
    from google.oauth2 import service_account

    path = settings.workbook.credentials or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        raise ConfigError(
            "[form] needs the service account: set GOOGLE_APPLICATION_CREDENTIALS to its key"
            " file (or [workbook] credentials in mailer.toml)"
        )
    try:
        credentials = service_account.Credentials.from_service_account_file(
            str(path), scopes=SCOPES
        )
    except (OSError, ValueError) as err:
        raise ConfigError(f"service account key file {path}: {err}") from None
    return FormsClient(AuthorizedSession(credentials), settings.form.id, settings.form.api_url)
