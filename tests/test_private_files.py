"""What mailer writes about people is private: 0600 files in 0700 folders, no address in a name.

The outbox, the ledger and its folder, the run log: whatever holds an
address or a name is readable by its owner alone, whatever the umask, and
`mailer status --json` masks addresses unless asked for them.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from test_digest import NEXT_SLOT, add_resources

from mailer.core.files import atomic_write, open_private, private_folder
from mailer.sending.transports.outbox import file_stem


@pytest.fixture
def open_umask():
    """The usual umask of a login shell: files 0644, folders 0755 unless mailer says otherwise."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def people(site) -> set[str]:
    return {row["Email Address"].strip() for row in site.rows() if "@" in row["Email Address"]}


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_address_in_a_file_others_may_read_or_in_a_file_name(site, open_umask):
    add_resources(site, "Grounding exercises")
    site.mailer("run")
    site.mailer("run", now=NEXT_SLOT)
    addresses = people(site)
    assert len(addresses) > 10 and site.sent(digests=True)

    readable = [p for p in site.root.rglob("*") if p.is_file() and mode(p) & 0o077]
    leaks = [
        (str(path.relative_to(site.root)), address)
        for path in readable
        for address in addresses
        if address.encode() in path.read_bytes()
    ]
    named = [str(p) for p in site.root.rglob("*") for a in addresses if a in p.name]

    assert leaks == [] and named == []
    for folder in ("state", "outbox"):
        assert mode(site.root / folder) == 0o700, folder
    written = [*site.outbox.iterdir(), *(site.root / "state").iterdir()]
    assert {oct(mode(p)) for p in written if p.is_file()} == {"0o600"}


def test_an_outbox_and_state_made_open_by_an_older_mailer_are_closed_again(site, open_umask):
    site.mailer("run")
    for path in [site.outbox, site.root / "state", *site.outbox.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)

    site.mailer("run", now=NEXT_SLOT)

    assert mode(site.outbox) == mode(site.root / "state") == 0o700
    assert mode(site.outbox / "index.jsonl") == 0o600


def test_status_json_masks_addresses_unless_asked(site):
    site.mailer("run")

    masked = site.mailer("status", "--json").output
    full = site.mailer("status", "--json", "--addresses").output

    assert [a for a in people(site) if a in masked] == []
    seats = json.loads(masked)["events"][0]["seats"]
    assert {s["email"] for s in seats} >= {"d***@example.org", "b***@example.org"}
    assert "daniel.reyes@example.org" in full


def test_outbox_files_are_named_by_key_with_the_address_masked():
    key = "confirmation:ccs-2026-12-02:daniel.reyes@example.org"

    stem = file_stem(key)

    assert stem.startswith("confirmation_ccs-2026-12-02_d.at.example.org-")
    assert "daniel" not in stem
    assert stem == file_stem(key) != file_stem(key.replace("daniel", "dana"))


def test_the_private_helpers_make_and_tighten(tmp_path, open_umask):
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    old = folder / "log.jsonl"
    old.write_text("")
    old.chmod(0o644)

    private_folder(folder)
    with open_private(old) as handle:
        handle.write("line\n")
    atomic_write(folder / "cache.json", b"{}", private=True)

    assert mode(folder) == 0o700
    assert mode(old) == mode(folder / "cache.json") == 0o600
    assert old.read_text() == "line\n"


def test_a_shared_folder_like_tmp_is_left_as_it_is(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)

    private_folder(shared)
    with open_private(shared / "mailer.log") as handle:
        handle.write("line\n")

    assert mode(shared) == 0o1777
    assert mode(shared / "mailer.log") == 0o600
