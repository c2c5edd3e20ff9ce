"""Google's OAuth token endpoint on loopback, for a service-account key file that points at it.

A key file's `token_uri` says where google-auth trades the account's signed
JWT for an access token; `key_file()` writes one with an RSA key of its own and
this server's address, so the real sign-in runs and stays on the machine.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

POLL = 0.05  # seconds between shutdown checks: a test's teardown waits at most this

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@functools.cache
def private_key_pem() -> str:
    """A 2048-bit RSA key in PKCS#8 PEM, made once per process: making one costs 0.15 s of CPU."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode("ascii")


class TokenEndpoint:
    """Answers each JWT grant with a new token, or refuses them all with `refusal` as the reason."""

    def __init__(self) -> None:
        self.grants: list[dict] = []  # the claims of each JWT presented
        self.refusal: str | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(POLL,), daemon=True)

    @property
    def uri(self) -> str:
        host, port = str(self.server.server_address[0]), self.server.server_address[1]
        return f"http://{host}:{port}/token"

    def __enter__(self) -> TokenEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def key_file(self, path: Path, client_email: str) -> Path:
        """A service account's JSON key, as the Cloud console downloads it, signing in here."""
        info = {
            "type": "service_account",
            "project_id": "care-network",
            "private_key_id": "0123456789abcdef",
            "private_key": private_key_pem(),
            "client_email": client_email,
            "client_id": "100000000000000000001",
            "token_uri": self.uri,
        }
        path.write_text(json.dumps(info), encoding="utf-8")
        return path

    def _answer(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        if form.get("grant_type") != [JWT_GRANT]:
            return 400, {"error": "unsupported_grant_type"}
        payload = form["assertion"][0].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        self.grants.append(claims)
        if self.refusal:
            return 400, {"error": "invalid_grant", "error_description": self.refusal}
        token = f"token-{len(self.grants)}"
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                status, body = endpoint._answer(form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
