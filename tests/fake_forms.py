"""A stand-in for forms.googleapis.com v1 on loopback, for the real google-auth session.

It keeps one form (items, revision, publish settings), answers forms.get,
forms.batchUpdate (updateItem with an updateMask, writeControl's
requiredRevisionId refusing a stale write with 400 as Google does) and
forms.setPublishSettings, records every call, and answers the next calls
with the statuses a test queues (429, 503).
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

POLL = 0.05  # seconds between shutdown checks: a test's teardown waits at most this

SESSION_QUESTION = "Which session?"


@dataclass
class FormCall:
    method: str
    path: str
    body: dict[str, Any] | None
    status: int


class FakeForms:
    def __init__(self, form_id: str = "form-123", options: tuple[str, ...] = ("To be announced",)):
        self.form_id = form_id
        self.revision = 1
        self.form: dict[str, Any] = {
            "formId": form_id,
            "info": {"title": "Community support conversations"},
            "items": [
                {
                    "itemId": "1a2b",
                    "title": "Name",
                    "questionItem": {"question": {"questionId": "q1", "textQuestion": {}}},
                },
                {
                    "itemId": "3c4d",
                    "title": SESSION_QUESTION,
                    "questionItem": {
                        "question": {
                            "questionId": "q2",
                            "required": True,
                            "choiceQuestion": {
                                "type": "RADIO",
                                "options": [{"value": v} for v in options],
                            },
                        }
                    },
                },
            ],
            "publishSettings": {
                "publishState": {"isPublished": True, "isAcceptingResponses": True}
            },
        }
        self.calls: list[FormCall] = []
        self.fail_next: list[int] = []  # statuses to answer the next calls with
        self.before_write = None  # called before a batchUpdate is applied (an organizer's edit)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(POLL,), daemon=True)

    @property
    def url(self) -> str:
        host, port = str(self.server.server_address[0]), self.server.server_address[1]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeForms:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def options(self) -> list[str]:
        choice = self.form["items"][1]["questionItem"]["question"]["choiceQuestion"]
        return [o["value"] for o in choice["options"]]

    @property
    def accepting(self) -> bool:
        return self.form["publishSettings"]["publishState"]["isAcceptingResponses"]

    def organizer_edits(self) -> None:
        """An edit made in the form editor: the revision moves on."""
        self.form["info"]["title"] += " (edited)"
        self.revision += 1

    def answer(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        with self.lock:
            if self.fail_next:
                status = self.fail_next.pop(0)
                return status, _error(status, "try again later")
            base = f"/v1/forms/{self.form_id}"
            if method == "GET" and path == base:
                return 200, {**copy.deepcopy(self.form), "revisionId": f"{self.revision:08d}"}
            if method == "POST" and path == base + ":batchUpdate":
                return self._batch_update(body or {})
            if method == "POST" and path == base + ":setPublishSettings":
                return self._publish(body or {})
            return 404, _error(404, "Requested entity was not found.")

    def _batch_update(self, body: dict) -> tuple[int, dict]:
        if self.before_write:
            self.before_write()
            self.before_write = None
        required = body.get("writeControl", {}).get("requiredRevisionId")
        if required is not None and required != f"{self.revision:08d}":
            return 400, _error(
                400, "The required revision ID does not match the form's latest revision."
            )
        for request in body.get("requests", []):
            update = request["updateItem"]
            index = update["location"]["index"]
            if update["updateMask"] != "questionItem.question.choiceQuestion.options":
                return 400, _error(400, "unsupported updateMask in this stand-in")
            if self.form["items"][index]["itemId"] != update["item"]["itemId"]:
                return 400, _error(400, "item id does not match the location")
            options = update["item"]["questionItem"]["question"]["choiceQuestion"]["options"]
            values = [o["value"] for o in options]
            if not values or len(set(values)) != len(values):
                return 400, _error(400, "options must be present and distinct")
            target = self.form["items"][index]["questionItem"]["question"]["choiceQuestion"]
            target["options"] = copy.deepcopy(options)
        self.revision += 1
        return 200, {
            "replies": [{}],
            "writeControl": {"requiredRevisionId": f"{self.revision:08d}"},
        }

    def _publish(self, body: dict) -> tuple[int, dict]:
        if "publishSettings" not in self.form:
            return 400, _error(400, "Legacy forms aren't supported.")
        state = body["publishSettings"]["publishState"]
        self.form["publishSettings"]["publishState"] = dict(state)
        return 200, {"formId": self.form_id, "publishSettings": self.form["publishSettings"]}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _respond(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if not self.headers.get("Authorization", "").startswith("Bearer "):
                    status, answer = 401, _error(401, "no credentials")
                else:
                    status, answer = fake.answer(method, self.path, body)
                fake.calls.append(FormCall(method, self.path, body, status))
                data = json.dumps(answer).encode()
                self.send_response(status)
                if status in (429, 503):
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._respond("GET")

            def do_POST(self) -> None:
                self._respond("POST")

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _error(status: int, message: str) -> dict:
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND"}
    return {
        "error": {"code": status, "message": message, "status": names.get(status, "UNAVAILABLE")}
    }
