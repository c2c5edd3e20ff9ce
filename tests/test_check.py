"""`mailer check`: the sample site passes; a broken template or workbook fails, saying where."""

from __future__ import annotations

from conftest import NOW
from fake_sheets import FakeSheets

from mailer.sheet.google import GoogleWorkbook, date_columns_for
from mailer.tools.checks import ERROR, Finding, check_templates, check_workbook


def test_the_sample_site_passes(site):
    result = site.mailer("check")

    assert result.exit_code == 0, result.output
    assert "signups = 'signups' (UTF-8, comma-separated): found 8 columns" in result.output
    assert "every email renders" in result.output


def test_ci_without_the_workbook_checks_jobs_and_templates(site):
    for path in (site.root / "lists").glob("*.csv"):
        path.unlink()
    assert site.mailer("check").exit_code == 1, "no workbook is an error when it is checked"

    result = site.mailer("check", "--no-workbook")

    assert result.exit_code == 0, result.output
    assert "Workbook: not checked" in result.output
    assert "every email renders" in result.output


def test_an_image_without_alt_text_fails_naming_file_and_line(site):
    template = site.root / "templates" / "waitlist.mjml"
    lines = template.read_text().splitlines()
    lines.insert(4, '        <mj-image src="https://example.org/logo.png" width="120px" />')
    template.write_text("\n".join(lines) + "\n")

    result = site.mailer("check")

    assert result.exit_code == 1
    assert f"{template}:5: error: <mj-image> has no alt text" in result.output


def test_an_undefined_variable_fails_naming_file_and_line(site):
    template = site.root / "templates" / "reminder.mjml"
    text = template.read_text().replace("event.title", "event.titel", 1)
    template.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "event.titel" in t)

    result = site.mailer("check")

    assert result.exit_code == 1
    assert f"{template}:{line}: error: 'dict object' has no attribute 'titel'" in result.output


def test_plain_http_links_vague_link_text_and_small_text_fail_naming_file_and_line(site):
    template = site.root / "templates" / "promotion.mjml"
    before, _, after = template.read_text().rpartition("{% endblock %}")
    link = '<mj-text font-size="12px"><a href="http://example.org/x">click\n here</a></mj-text>'
    text = f"{before}{link}\n{{% endblock %}}{after}"
    template.write_text(text)
    line = before.count("\n") + 1

    result = site.mailer("check")

    assert result.exit_code == 1
    assert f"{template}:{line}: error: text at 12 px is hard to read" in result.output
    assert f"{template}:{line}: error: link 'http://example.org/x' is not https" in result.output
    assert (
        f"{template}:{line}: error: link text 'click here' does not say where it goes"
        in result.output
    )
    assert result.output.count("is not https") == 1, "one finding, however many emails use it"


def test_a_layout_without_a_language_fails_naming_file_and_line(site):
    """mjml-python writes lang="und" when <mjml> has none; screen readers then guess."""
    layout = site.root / "templates" / "layout.mjml"
    layout.write_text(
        layout.read_text().replace('<mjml lang="{{ lang }}" dir="{{ dir }}">', "<mjml>", 1)
    )

    result = site.mailer("check")

    assert result.exit_code == 1
    assert f"{layout}:1: error: no language" in result.output
    assert result.output.count("no language") == 1, "one finding, however many emails use it"


def test_an_include_that_does_not_exist_is_named_where_it_is_included(site):
    template = site.root / "templates" / "confirmation.mjml"
    text = template.read_text().replace('"_calendar.mjml"', '"_calender.mjml"', 1)
    template.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "_calender" in t)

    result = site.mailer("check")

    assert result.exit_code == 1
    assert f"{template}:{line}: error: no template " in result.output
    assert result.output.count("_calender.mjml") == 1


def test_a_job_that_names_a_missing_template_is_named_by_file_and_line(site):
    job = site.root / "jobs" / "reminders.toml"
    text = job.read_text().replace('template = "reminder"', 'template = "remindr"')
    job.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "remindr" in t)

    result = site.mailer("check")

    assert result.exit_code == 1
    assert f"{job}:{line}: error: [options] template: no template " in result.output
    assert result.output.count("remindr.mjml") == 1
    assert "1 error, 0 warnings" in result.output


def test_a_finding_carries_file_and_line_apart_for_tools(site):
    template = site.root / "templates" / "waitlist.mjml"
    text = template.read_text().replace("event.title", "event.titel", 1)
    template.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "event.titel" in t)

    findings = check_templates(site.settings(), NOW)

    assert Finding(ERROR, str(template), "'dict object' has no attribute 'titel'", line) in findings


def test_a_missing_required_column_in_the_sheet_is_named(site, tmp_path):
    sheets = FakeSheets("k")
    sheets.add_tab("events", [["id", "title", "starts_at", "ends_at"]])
    sheets.add_tab("signups", [["Timestamp", "Email Address", "Which session?"]])
    settings = site.settings()
    workbook = GoogleWorkbook(sheets.client(), "k", date_columns_for(settings))

    report = check_workbook(settings, workbook)

    assert report.tabs_in_workbook == ["events", "signups"]
    errors = [str(f) for f in report.findings if f.severity == "error"]
    assert errors == [
        "tab 'events': error: no column 'capacity' (capacity); add it or map it under "
        "[workbook.columns.events]"
    ]
    assert "members" in {t.logical for t in report.tabs if not t.exists}
    assert NOW


def test_a_site_with_its_own_headers_and_tab_names_passes_too(site):
    text = site.config.read_text()
    text += (
        '\n[workbook.tabs]\nsignups = "Form Responses 1"\n'
        '\n[workbook.columns.signups]\nemail = "Email address"\n'
        'event = "Which conversation would you like to join?"\n'
        '\n[workbook.columns.subscribers]\nemail = "Subscriber email"\n'
        '\n[workbook.columns.resources]\ntitle = "Resource"\n'
    )
    site.config.write_text(text)
    for path in (site.root / "lists").glob("*.csv"):
        path.unlink()
    site.mailer("init")

    result = site.mailer("check")

    assert result.exit_code == 0, result.output
    assert "signups = 'Form Responses 1'" in result.output


def test_mjml_that_mjml_python_would_render_silently_wrong_fails(site):
    template = site.root / "templates" / "waitlist.mjml"
    before, _, after = template.read_text().rpartition("{% endblock %}")
    broken = (
        "<mj-colum><mj-text>typo</mj-text></mj-colum>\n<mj-section></mj-section>\n<p>loose</p>\n"
    )
    template.write_text(f"{before}{broken}{{% endblock %}}{after}")
    line = before.count("\n") + 1

    result = site.mailer("check")

    assert result.exit_code == 1
    assert f"{template}:{line}: error: <mj-colum> is not an MJML tag" in result.output
    assert (
        f"{template}:{line + 1}: error: <mj-section> cannot go inside <mj-column>" in result.output
    )
    assert "<p> is HTML outside an mj-text or mj-raw" in result.output


def test_web_fonts_and_mj_style_inline_are_warned_about(site):
    layout = site.root / "templates" / "layout.mjml"
    text = layout.read_text().replace(
        "<mj-attributes>",
        '<mj-font name="Lato" href="https://fonts.example.org/lato.css" />\n'
        '    <mj-style inline="inline">.x { color: red; }</mj-style>\n'
        "    <mj-attributes>",
        1,
    )
    layout.write_text(text)

    result = site.mailer("check")

    assert result.exit_code == 0, result.output
    assert f"{layout}:5: warning: a web font is fetched from its host" in result.output
    assert f"{layout}:6: warning: mjml-python does not inline" in result.output
    assert "2 warnings" in result.output
