"""`make report`: execute the notebooks with a profile, convert them to HTML, write the index
and SUMMARY.md (`python -m tickets.report`, see tickets.report.cli).

One module per job: layout (where the notebooks and profiles are), params (the parameters a
notebook runs with), settings (params/report.yaml: each profile's label, executor and accuracy
targets), execute (papermill), convert (nbconvert to HTML, screenshots), checks (scale check,
stale parameters, withdrawn notebooks), records (the verdict records as rows), index (the
index page, from templates/index.html.j2), forest (its forest plot), summary (SUMMARY.md and
the README's claims table), cli (the command line). The names below are this package's
interface; import them from tickets.report.
"""

from tickets.report.checks import (
    WITHDRAWN,
    _clear_withdrawn,
    executed_params,
    executed_settings,
    other_scales,
    scale_check,
    stale_params,
    withdrawn,
)
from tickets.report.cli import main, write_index
from tickets.report.convert import screenshot, to_html
from tickets.report.execute import execute, profile_environment
from tickets.report.forest import forest_svg
from tickets.report.index import build_index, render_index
from tickets.report.layout import KERNEL, PROFILES, ROOT, notebooks
from tickets.report.params import parse_param, profile_params, run_params
from tickets.report.records import COLOURS as _COLOURS
from tickets.report.settings import ACCURACY_TARGETS, PROFILE_EXECUTOR
from tickets.report.summary import summary_markdown, update_readme, write_summary
from tickets.store import atomic_write_json

__all__ = [
    "ACCURACY_TARGETS", "KERNEL", "PROFILES", "PROFILE_EXECUTOR", "ROOT", "WITHDRAWN",
    "_COLOURS", "_clear_withdrawn", "atomic_write_json", "build_index", "execute",
    "executed_params", "executed_settings", "forest_svg", "main", "notebooks", "other_scales",
    "parse_param", "profile_environment", "profile_params", "render_index", "run_params", "scale_check",
    "screenshot", "stale_params", "summary_markdown", "to_html", "update_readme",
    "withdrawn", "write_index", "write_summary",
]
