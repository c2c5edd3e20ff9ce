"""Nothing leaves the machine: each message becomes an .eml and an .html in a folder.

`index.jsonl` gets a line per message (key, kind, event, to, subject, file).
Files are named by idempotency key (its address masked) and written
atomically, so sending the same message again rewrites the same file and
adds no second index line. Everything here holds addresses: files 0600 in
a 0700 folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.core.batches import batches
from mailer.core.errors import ConfigError
from mailer.core.files import PRIVATE_FILE, atomic_write, open_private, private_folder
from mailer.core.redact import ADDRESS, mask
from mailer.mail.states import SENT
from mailer.sending.transports.base import TransportBase
from mailer.settings.config import Settings

if TYPE_CHECKING:  # the message model loads when something is sent, not when nothing is due
    from mailer.mail.message import OutgoingMessage, SendResult

INDEX = "index.jsonl"
TAIL_BLOCK = 4096  # bytes read at a time from the index's end, looking for its last newline


def file_stem(key: str) -> str:
    """A safe, unique, readable file name for an idempotency key, with no address in it.

    The address in the key is masked (`confirmation_ccs-2026-12-02_d.at.example.org`)
    and a hash of the whole key keeps names unique and the same on every send.
    """
    masked = ADDRESS.sub(lambda found: mask(found.group(0)).replace("***@", ".at."), key)
    readable = re.sub(r"[^A-Za-z0-9._+-]+", "_", masked)[:120]
    return f"{readable}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


class OutboxTransport(TransportBase):
    name = "outbox"
    batch_size = 50
    # Sending a message again rewrites the same file: nothing is ever multiplied, so
    # no message needs to be committed as sending first.
    idempotent = True

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"outbox {self.folder} exists and is not a folder")
        if self.folder.is_dir():  # made open by an older mailer: closed before anything else
            private_folder(self.folder)
            if (self.folder / INDEX).exists():
                os.chmod(self.folder / INDEX, PRIVATE_FILE)
        self._indexed: set[str] | None = None

    def open(self) -> bool:
        private_folder(self.folder)
        if not os.access(self.folder, os.W_OK):
            raise ConfigError(f"outbox {self.folder} is not writable")
        if self._indexed is not None:
            return False
        index = self.folder / INDEX
        self._indexed = read_index(index) if index.exists() else set()
        return True

    def close(self) -> None:
        self._indexed = None

    def send(self, messages: Sequence[OutgoingMessage]) -> Iterator[SendResult]:
        # Imported here: retention reads the outbox on every run, MIME is made only to send.
        from mailer.mail.message import SendResult
        from mailer.mail.mime import message_id, mime_bytes

        self.open()
        assert self._indexed is not None
        folder = os.fspath(self.folder)  # names as strings: pathlib interns every one it parses
        with open_private(self.folder / INDEX) as index:
            for message in messages:
                stem = file_stem(message.key)
                # Renames are atomic against a killed process; the outbox is a local
                # spool, so it skips the fsync per file that a power cut would need.
                # open() made the folder private for this batch.
                html = message.html.encode("utf-8")
                atomic_write(f"{folder}/{stem}.html", html, durable=False, in_private=True)
                eml = mime_bytes(message)
                atomic_write(f"{folder}/{stem}.eml", eml, durable=False, in_private=True)
                if message.key not in self._indexed:
                    line = {
                        "key": message.key,
                        "kind": message.kind,
                        "event": message.event_id,
                        "to": message.to_email,
                        "subject": message.subject,
                        "file": f"{stem}.eml",
                    }
                    index.write(json.dumps(line, ensure_ascii=False) + "\n")
                    index.flush()
                    self._indexed.add(message.key)
                yield SendResult(message.key, SENT, provider_id=message_id(message))


def read_index(index: Path) -> set[str]:
    """Keys already in the index; a line cut short by a killed run is dropped."""
    _cut_torn_line(index)
    return {json.loads(line)["key"] for _, line in _numbered_lines(index)}


def _cut_torn_line(index: Path) -> None:
    """A last line a killed run cut short (no newline at its end) is taken off the file.

    The file is read backwards from its end, a block at a time, to its last newline.
    """
    with open(index, "r+b") as f:
        end = position = f.seek(0, os.SEEK_END)
        whole = 0  # where the complete lines end
        while position > 0:
            start = max(position - TAIL_BLOCK, 0)
            f.seek(start)
            newline = f.read(position - start).rfind(b"\n")
            if newline >= 0:
                whole = start + newline + 1
                break
            position = start
        if whole < end:
            f.truncate(whole)


def index_file(folder: Path | str) -> str:
    """Which index file the folder holds, as it stands: any line added or removed changes it."""
    try:
        found = os.stat(Path(folder) / INDEX)
    except FileNotFoundError:
        return ""
    return f"{found.st_ino}:{found.st_size}:{found.st_mtime_ns}"


Entry = tuple[dict[str, str], Path]  # an index line and its .eml file
PRUNE_BATCH = 500  # index lines a prune decides on at once


def prune(folder: Path, drop: Callable[[list[Entry]], list[bool]], dry_run: bool = False) -> int:
    """Remove the messages `drop` picks: files and lines.

    `drop` gets the index lines a batch at once (so it can ask the ledger about
    them together) and says for each whether it goes. The index is read a
    batch at a time, never whole, and rewritten atomically without their
    lines; returns how many went.
    """
    index = Path(folder) / INDEX
    if not index.exists():
        return 0
    _cut_torn_line(index)
    gone: set[int] = set()  # the numbers of the lines that go
    for batch in batches(_numbered_lines(index), PRUNE_BATCH):
        entries = [json.loads(line) for _, line in batch]
        found = [(entry, Path(folder) / entry["file"]) for entry in entries]
        for (number, _), (_, eml), goes in zip(batch, found, drop(found), strict=True):
            if not goes:
                continue
            gone.add(number)
            if not dry_run:
                for path in (eml, eml.with_suffix(".html")):
                    path.unlink(missing_ok=True)
    if gone and not dry_run:
        kept = (line for number, line in _numbered_lines(index) if number not in gone)
        pieces = (
            "".join(f"{line}\n" for line in lines).encode("utf-8")
            for lines in batches(kept, PRUNE_BATCH)
        )
        atomic_write(index, pieces, durable=True, private=True)
    return len(gone)


def _numbered_lines(index: Path) -> Iterator[tuple[int, str]]:
    """Each line of the index that holds something, with its place among all its lines."""
    with open(index, encoding="utf-8", newline="\n") as lines:
        for number, line in enumerate(lines):
            if line.strip():
                yield number, line.rstrip("\n")


def build(settings: Settings) -> OutboxTransport:
    """`[transport] backend = "outbox"`: the folder `[transport] path`."""
    return OutboxTransport(settings.transport.path)
