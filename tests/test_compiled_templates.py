"""Templates compiled once per process; each site still renders its own and hears of its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.mail.compiled_templates import COMPILED
from mailer.mail.render import Renderer, TemplateError

GREETING = """{% set subject %}Hello {{ who }}{% endset %}
<mjml><mj-body><mj-section><mj-column>
<mj-text>{{ body }}</mj-text>
</mj-column></mj-section></mj-body></mjml>
"""


def write_template(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "greeting.mjml").write_text(source, encoding="utf-8")
    return folder


def test_a_second_site_with_the_same_template_reuses_the_compiled_code(tmp_path: Path) -> None:
    first = write_template(tmp_path / "one", GREETING)
    second = write_template(tmp_path / "two", GREETING)
    Renderer(first).prepare("greeting", {"who": "Ada", "body": "one"})
    before = len(COMPILED._code)

    prepared = Renderer(second).prepare("greeting", {"who": "Grace", "body": "two"})

    assert prepared.subject == "Hello Grace"
    assert ">two<" in prepared.html
    assert len(COMPILED._code) == before


def test_an_edited_template_is_compiled_again(tmp_path: Path) -> None:
    first = write_template(tmp_path / "one", GREETING)
    second = write_template(tmp_path / "two", GREETING.replace("Hello", "Welcome"))
    Renderer(first).prepare("greeting", {"who": "Ada", "body": "x"})

    assert Renderer(second).prepare("greeting", {"who": "Ada", "body": "x"}).subject == (
        "Welcome Ada"
    )


def test_an_error_names_the_file_of_the_site_that_rendered_it(tmp_path: Path) -> None:
    broken = GREETING.replace("{{ body }}", "{{ body.missing.deeper }}")
    first = write_template(tmp_path / "one", broken)
    second = write_template(tmp_path / "two", broken)
    with pytest.raises(TemplateError, match=str(first / "greeting.mjml")):
        Renderer(first).prepare("greeting", {"who": "Ada", "body": {}})

    before = len(COMPILED._code)
    with pytest.raises(TemplateError) as raised:
        Renderer(second).prepare("greeting", {"who": "Ada", "body": {}})

    assert f"{second / 'greeting.mjml'}:3" in str(raised.value)
    assert str(first) not in str(raised.value)
    assert len(COMPILED._code) == before  # the first site's code, naming the second's file
