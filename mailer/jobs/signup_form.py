"""The signup form offers the sessions open now: one Forms API call, and only on a change."""

from __future__ import annotations

from mailer.jobs.signups_report import SignupsReport
from mailer.ledger.sqlite import Ledger
from mailer.rules.form_choices import FormChoices
from mailer.sheet.google_form import FormError, FormsClient, keep_in_step
from mailer.site import Site


def keep_form_in_step(
    site: Site, forms: FormsClient, ledger: Ledger, choices: FormChoices, report: SignupsReport
) -> None:
    """Offer the open sessions on the signup form; no call when it already offers them."""
    wanted = (choices.options, choices.accepting)
    pushed = ledger.form_pushed(forms.form)
    if pushed == wanted:
        return
    try:
        report.form = keep_in_step(
            forms,
            site.settings.form.question,
            choices.options,
            choices.accepting,
            pushed[0] if pushed else None,
        )
    except FormError as err:
        report.warnings.append(f"signup form: {err}")
        return
    report.warnings.extend(report.form.warnings)
    ledger.set_form_pushed(forms.form, *wanted)
