"""Templates -> subject, HTML and text: Jinja renders MJML, MRML compiles it once, people fill in.

What differs per recipient (name, address, waitlist place) enters the
template as a placeholder, so one compiled body serves everyone who shares
the rest; `mailer.message.fill` puts each person's values in, escaped for HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from mailer.core.errors import MailerError
from mailer.mail.catalogs import Catalogs
from mailer.mail.message import PERSON_FIELDS, placeholder

# Jinja's i18n extension, `{% trans %}` blocks trimmed so one message serves the MJML and the
# text part alike, however each wraps it; `_()` and `ngettext()` with new-style formatting.
EXTENSIONS = ["jinja2.ext.i18n"]
POLICIES = {"ext.i18n.trimmed": True}
# Compiled bodies kept for reuse: one session's variants and a digest's languages fit; a run of
# a hundred sessions would otherwise hold every body's HTML (18 KB each) to the end.
COMPILED_KEPT = 32

if TYPE_CHECKING:  # Jinja and MRML load when a template is first rendered, not with every run
    import jinja2
    from jinja2.environment import TemplateModule


class TemplateError(MailerError):
    """A template is missing, does not render, or does not compile."""


class PersonPlaceholders:
    """Stands for the recipient while the shared body is rendered."""

    def __getattr__(self, name: str) -> Markup:
        if name not in PERSON_FIELDS:
            raise AttributeError(name)
        return Markup(placeholder(name))


@dataclass(frozen=True)
class Prepared:
    """A template rendered for everyone who shares its context, placeholders for the person."""

    subject: str
    html: str
    text: str


class Renderer:
    def __init__(self, folder: Path, catalogs: Catalogs | None = None):
        self.folder = Path(folder)
        self.catalogs = catalogs or Catalogs(self.folder.parent / "locales")
        self._environments: dict[str, tuple[jinja2.Environment, jinja2.Environment]] = {}
        self._compiled: dict[str, str] = {}  # the latest COMPILED_KEPT MJML sources' HTML
        # Template name -> the MJML it rendered to, kept only once a caller asks (`mailer check`
        # reads them): a run of a hundred sessions would hold each session's to its end.
        self.sources: dict[str, set[str]] | None = None
        self.compiles = 0

    @cached_property
    def markup(self) -> jinja2.Environment:
        return self.environments(self.catalogs.default)[0]

    @cached_property
    def plain(self) -> jinja2.Environment:
        return self.environments(self.catalogs.default)[1]

    def environments(self, language: str) -> tuple[jinja2.Environment, jinja2.Environment]:
        """The MJML and the plain-text environment speaking one language, built once each."""
        if language not in self._environments:
            import jinja2

            from mailer.mail.compiled_templates import COMPILED

            loader = jinja2.FileSystemLoader(self.folder)
            markup = jinja2.Environment(
                loader=loader,
                bytecode_cache=COMPILED,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                autoescape=True,
                extensions=EXTENSIONS,
            )
            plain = jinja2.Environment(
                loader=loader,
                bytecode_cache=COMPILED,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                autoescape=False,
                lstrip_blocks=True,
                extensions=EXTENSIONS,
            )
            translations = self.catalogs.translations(language)
            for env in (markup, plain):
                env.policies.update(POLICIES)
                env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            self._environments[language] = (markup, plain)
        return self._environments[language]

    def prepare(
        self, name: str, context: Mapping[str, object], language: str = "", direction: str = "ltr"
    ) -> Prepared:
        """Render `<name>.mjml` (and `<name>.txt`) for a shared context in one language;
        compile once per body."""
        language = language or self.catalogs.default
        markup, plain = self.environments(language)
        context = {"lang": language, "dir": direction, **context, "person": PersonPlaceholders()}
        module = self._module(markup, f"{name}.mjml", context)
        subject = getattr(module, "subject", None)
        if not subject:
            raise TemplateError(f"{self.folder / name}.mjml sets no subject ({{% set subject %}})")
        subject = " ".join(Markup(str(subject)).unescape().split())
        source = str(module)
        body = self._compile(name, source)
        text_path = self.folder / f"{name}.txt"
        if text_path.exists():
            text = str(self._module(plain, f"{name}.txt", {**context, "subject": subject}))
        else:
            text = text_from_html(body)
        return Prepared(subject=subject, html=body, text=text.strip() + "\n")

    def _module(
        self, env: jinja2.Environment, filename: str, context: Mapping[str, object]
    ) -> TemplateModule:
        import jinja2

        try:
            return env.get_template(filename).make_module(dict(context))
        except jinja2.TemplateNotFound as err:
            missing = f"no template {self.folder / str(err.name)}"
            where = template_line(env, self.folder, err)  # the include that names it, if any
            raise TemplateError(f"{where}: {missing}" if where else missing) from err
        except jinja2.TemplateSyntaxError as err:
            raise TemplateError(f"{err.filename or filename}:{err.lineno}: {err.message}") from err
        except jinja2.UndefinedError as err:
            where = template_line(env, self.folder, err) or f"{self.folder / filename}"
            raise TemplateError(f"{where}: {err.message}") from err

    def _compile(self, name: str, source: str) -> str:
        if self.sources is not None:
            self.sources.setdefault(name, set()).add(source)
        if source not in self._compiled:
            from mjml import mjml2html

            try:
                self._compiled[source] = mjml2html(source, disable_comments=True, fonts={})
            except ValueError as err:
                raise TemplateError(f"{self.folder / name}.mjml does not compile: {err}") from err
            self.compiles += 1
            if len(self._compiled) > COMPILED_KEPT:  # the oldest: its body is in the ledger by now
                del self._compiled[next(iter(self._compiled))]
        return self._compiled[source]


def template_line(env: jinja2.Environment, folder: Path, err: BaseException) -> str:
    """`file:line` of the template line an error came from, read off the traceback."""
    where = ""
    tb = err.__traceback__
    while tb is not None:
        path = Path(tb.tb_frame.f_code.co_filename)
        if path.suffix in (".mjml", ".txt") and path.is_relative_to(folder):
            template = env.get_template(path.relative_to(folder).as_posix())
            where = f"{path}:{template.get_corresponding_lineno(tb.tb_lineno)}"
        tb = tb.tb_next
    return where


def text_from_html(markup: str) -> str:
    """A readable plain-text fallback for a template that has no .txt."""
    body = re.sub(r"(?is)<(style|head|script)\b.*?</\1>", "", markup)
    body = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>", "\n", body)
    body = html.unescape(re.sub(r"<[^>]+>", "", body))
    return "\n".join(line.strip() for line in body.splitlines() if line.strip())
