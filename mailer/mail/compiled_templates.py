"""Templates compiled once per process: every renderer, site and language reuses the code.

Jinja lexes, parses and compiles a template to Python for every new
environment, and mailer makes two environments per language for every run:
the daemon, `mailer check` (every email in every language) and the preview
compiled the same sources again and again. The compiled code depends only on
the template's name, its source and the environment options that shape
compilation, so those are the key. The code is handed out naming the file it
was loaded from, so a template's error still points at the site's own file.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from types import CodeType

import jinja2
from jinja2.bccache import Bucket

# Distinct (template, source, options) kept at most; the oldest goes first past it.
LIMIT = 512


def relocated(code: CodeType, filename: str) -> CodeType:
    """The same code, its tracebacks naming `filename`."""
    if code.co_filename == filename:
        return code
    consts = tuple(
        relocated(const, filename) if isinstance(const, CodeType) else const
        for const in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def compile_options(environment: jinja2.Environment) -> tuple[Hashable, ...]:
    """What of an environment changes the code a template compiles to."""
    autoescape: bool | Callable[[str | None], bool] = environment.autoescape
    return (
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        environment.optimized,
        autoescape if isinstance(autoescape, bool) else id(autoescape),
        tuple(sorted(environment.extensions)),
        tuple(sorted((k, repr(v)) for k, v in environment.policies.items())),
        getattr(environment, "newstyle_gettext", False),
    )


class CompiledTemplates(jinja2.BytecodeCache):
    """Compiled template code kept in memory, shared by every environment of the process."""

    def __init__(self) -> None:
        self._code: dict[tuple[Hashable, ...], CodeType] = {}

    def get_bucket(
        self, environment: jinja2.Environment, name: str, filename: str | None, source: str
    ) -> Bucket:
        bucket = Bucket(environment, name, self.get_source_checksum(source))
        code = self._code.get(self._key(bucket))
        if code is not None:
            bucket.code = relocated(code, filename or "<template>")
        return bucket

    def set_bucket(self, bucket: Bucket) -> None:
        if bucket.code is None:
            return
        if len(self._code) >= LIMIT:
            del self._code[next(iter(self._code))]
        self._code[self._key(bucket)] = bucket.code

    @staticmethod
    def _key(bucket: Bucket) -> tuple[Hashable, ...]:
        return (bucket.key, bucket.checksum, compile_options(bucket.environment))


COMPILED = CompiledTemplates()
