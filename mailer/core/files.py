"""Files that readers see whole, and files that only their owner may read.

Whatever holds a person's address or name (the outbox, the ledger and the
state folder, run logs, caches of the sheet) is private: files 0600 in
folders 0700, made so when created and tightened when mailer finds them
looser, whatever the process's umask.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import IO

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_folder(path: Path) -> Path:
    """`path` as a folder only its owner may open (made, with its parents, if missing)."""
    path = Path(path)
    path.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    found = path.stat()
    # A folder someone else owns, or one shared on purpose (sticky, like /tmp), is left alone.
    shared = bool(found.st_mode & stat.S_ISVTX) or found.st_uid != os.getuid()
    if found.st_mode & 0o777 != PRIVATE_FOLDER and not shared:
        os.chmod(path, PRIVATE_FOLDER)
    return path


def open_private(path: Path, mode: str = "a") -> IO[str]:
    """A text file only its owner may read, in a private folder, opened to append or write."""
    private_folder(Path(path).parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # a file made before, or under a looser umask
    return os.fdopen(fd, mode, encoding="utf-8")


def atomic_write(
    path: Path | str,
    data: bytes | Iterable[bytes],
    durable: bool = True,
    private: bool = False,
    in_private: bool = False,
) -> None:
    """Write a file so that readers see the old or the new content, never half of it.

    `data` is the content, or its pieces in order (a large file made as it is written).

    `durable` also flushes it to disk before the rename, so it survives a power cut.
    `private` makes it 0600 in a 0700 folder; otherwise a file keeps the mode it had.
    `in_private` says the caller made its folder private already (a file 0600 too). A
    path may be a plain string: the outbox writes thousands, which pathlib would intern.
    """
    folder, name = os.path.split(os.fspath(path))
    folder = folder or "."
    if in_private:
        private = True
    elif private:
        private_folder(Path(folder))
    else:
        os.makedirs(folder, exist_ok=True)
    fd, tmp = _new_file(folder, name)
    try:
        try:
            for chunk in (data,) if isinstance(data, bytes) else data:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if not private and os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _new_file(folder: str, name: str) -> tuple[int, str]:
    """A new file beside `name`, 0600, that no other writer opened: as tempfile.mkstemp makes.

    Without tempfile, whose import (shutil, bz2, lzma, random) was a twentieth
    of an unchanged signups run that writes two small files.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, PRIVATE_FILE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary name beside {os.path.join(folder, name)}")
