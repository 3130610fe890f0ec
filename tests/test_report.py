import json
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tickets import claims, report
from tickets.notebook import record_verdict

ROOT = Path(__file__).resolve().parent.parent


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "img" and "src" in a:
            self.links.append(a["src"])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text())
    return p


def check_links_resolve(index: Path) -> int:
    """Every local link and image of the index points at an existing file and anchor."""
    n = 0
    for href in _parse(index).links:
        if href.startswith(("http://", "https://", "data:", "mailto:")):
            continue
        target, _, anchor = href.partition("#")
        f = index.parent / target
        assert f.exists(), f"{index.name}: broken link {href}"
        if anchor:
            assert anchor in _parse(f).ids, f"{index.name}: no anchor #{anchor} in {target}"
        n += 1
    return n


def test_index_links_resolve_and_unrun_claims_say_so(tmp_path):
    v = claims.Verdict("rst-2", "partly", "ours", "why")
    out = record_verdict(tmp_path, v, "smoke scale")
    assert (v.notebook, v.anchor) == ("01_existence", "claim-rst-2"), "taken from the claim"
    assert out.exists()
    (tmp_path / "01_existence.html").write_text('<html><a id="claim-rst-2"></a></html>')
    index = report.build_index(tmp_path, "smoke")
    assert check_links_resolve(index) >= 2
    text = index.read_text()
    assert "partly" in text and text.count("not run") == len(claims.CLAIMS) - 1


def test_index_builder_catches_a_missing_anchor(tmp_path):
    v = claims.Verdict("rst-2", "partly", "ours", "why")
    record_verdict(tmp_path, v, "smoke")
    (tmp_path / "01_existence.html").write_text("<html>no anchors</html>")
    index = report.build_index(tmp_path, "smoke")
    with pytest.raises(AssertionError, match="no anchor"):
        check_links_resolve(index)


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_committed_reports_links_resolve(profile):
    index = ROOT / "reports" / profile / "index.html"
    if not index.exists():
        pytest.skip(f"no committed {profile} report")
    assert check_links_resolve(index) > 0


@pytest.mark.parametrize("profile", ["cpu", "gpu", "paper"])
def test_profile_files_name_only_notebook_parameters(profile):
    """A typo in a profile would reach papermill as an unknown parameter and be ignored."""
    import ast

    import nbformat
    import yaml

    from tickets import profiles

    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks
    for nb_path in notebooks:
        nb = nbformat.read(nb_path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        names = {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}
        f = ROOT / "params" / profile / f"{nb_path.name[:2]}.yaml"
        assert f.exists(), f"no {profile} profile for {nb_path.name}"
        params = yaml.safe_load(f.read_text()) or {}
        # a study file may also change the profile's shared scale (tickets.profiles.SHARED)
        unknown = set(params) - names - set(profiles.SHARED)
        assert not unknown, f"{f.relative_to(ROOT)}: not parameters of {nb_path.name}: {unknown}"


def test_the_index_shows_each_part_with_its_interval(tmp_path):
    from tickets.claims.base import Part, graded
    from tickets.stats import Difference

    parts = [Part("best RST minus dense", Difference(0.02, 0.01, 0.03, 1000, 3), -0.03),
             Part("best RST minus its size", Difference(-0.02, -0.05, 0.01, 1000, 3), -0.01)]
    v = graded("rst-1", parts, "ours", "a note")
    assert v.verdict == "partly"
    record_verdict(tmp_path, v, "smoke")
    text = report.build_index(tmp_path, "smoke").read_text()
    assert "best RST minus dense: <b>+2.0</b> [+1.0, +3.0], 3 seeds" in text
    assert "[-5.0, +1.0]" in text and "inconclusive" in text and "a note" in text


def test_the_index_checks_study_01_against_the_cpu_targets(tmp_path):
    from tickets.claims.base import not_run
    from tickets.studies.existence import SAME_WIDTH

    def row(kind, r, seed, clean, pgd, val_pgd=None):
        return {"kind": kind, "remaining": r, "seed": seed, "clean": clean, "pgd": pgd,
                "n_test": 1000, "val_pgd": pgd if val_pgd is None else val_pgd}

    table = [row("RST", 0.1, s, 0.40 + 0.01 * s, 0.27) for s in range(3)]
    table += [row("RST", 0.3, s, 0.45, 0.20) for s in range(3)]
    table += [row(SAME_WIDTH, 1.0, s, 0.44, 0.30) for s in range(3)]
    record_verdict(tmp_path, not_run("rst-1", "ours", "why"), "cpu", table=table)
    rows = {r["model"]: r for r in report.scale_check(
        {"rst-1": {"table": table}}, "cpu")}
    best = rows["best RST (r=0.1)"]
    assert best["clean"] == pytest.approx(0.41) and best["pgd"] == pytest.approx(0.27)
    assert best["met"] and best["seeds"] == 3 and best["n"] == 1000
    assert rows[SAME_WIDTH]["met"] is False  # 44 % clean misses 45
    text = report.build_index(tmp_path, "cpu").read_text()
    assert "best RST (r=0.1)" in text and "missed" in text and "&ge; 45 / 28" in text
    assert "standard error of at most 1.6 points" in text
    assert report.scale_check({"rst-1": {"table": table}}, "smoke")[0].get("target") is None
    # the best ratio is chosen on validation, whatever the test column says
    flipped = [dict(r, val_pgd=0.1 if r["remaining"] == 0.1 else r["val_pgd"]) for r in table]
    assert report.scale_check({"rst-1": {"table": flipped}}, "cpu")[0]["model"] == \
        "best RST (r=0.3)"
    old = [{k: v for k, v in r.items() if k != "val_pgd"} for r in table]
    assert report.scale_check({"rst-1": {"table": old}}, "cpu")[0]["model"] == \
        "best RST (r=0.1, chosen on test: an old record)"


def test_the_index_flags_a_notebook_executed_with_other_parameters(tmp_path):
    """A committed notebook whose injected parameters differ from params/<profile> as they
    stand is named, with the difference, so that a report never silently mixes two scales."""
    import json

    now = report.profile_params("cpu", Path("02_initialisation.ipynb"))

    def executed(params):
        src = "".join(f"{k} = {v!r}\n" for k, v in params.items())
        return json.dumps({"cells": [
            {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "x = 1\n"},
            {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
             "source": src}]})

    (tmp_path / "02_initialisation.html").write_text("<html></html>")
    nb = tmp_path / "02_initialisation.ipynb"
    nb.write_text(executed({**now, "profile": "cpu", "results_dir": "elsewhere"}))
    assert report.stale_params(nb, "cpu") == []
    assert "Not one scale" not in report.build_index(tmp_path, "cpu").read_text()
    nb.write_text(executed({**now, "batch_size": now["batch_size"] * 2, "profile": "cpu"}))
    diff = report.stale_params(nb, "cpu")
    assert diff == [f"batch_size: ran with {now['batch_size'] * 2}, params/cpu now say "
                    f"{now['batch_size']}"]
    text = report.build_index(tmp_path, "cpu").read_text()
    assert "Not one scale" in text and 'make report NOTEBOOKS="02"' in text
    (tmp_path / "timings.json").write_text('{"02_initialisation": 600}')
    text = report.build_index(tmp_path, "cpu").read_text()
    assert "sum of the times above: 10 min</b>, not one cold report" in text
    assert "all notebooks:" not in text
    nb.write_text(executed({**now, "profile": "cpu"}))  # one scale, but 1 of 10 notebooks
    text = report.build_index(tmp_path, "cpu").read_text()
    assert "sum of the 1 notebook(s) executed: 10 min</b>, 9 of the 10 not executed" in text
    assert "all notebooks:" not in text


def test_a_change_to_the_profile_after_an_execution_is_seen_through_the_kept_settings(tmp_path):
    """papermill injects only the profile, so the settings a notebook resolved are what it kept
    (tickets.notebook.SETTINGS_MIME): a later change to params/<profile> differs from them."""
    import json

    from tickets.notebook import SETTINGS_MIME

    now = report.profile_params("cpu", Path("02_initialisation.ipynb"))

    def executed(settings):
        return json.dumps({"cells": [
            {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
             "source": "profile = 'cpu'\n", "outputs": []},
            {"cell_type": "code", "metadata": {}, "source": "s = nb.setup(...)\n",
             "outputs": [{"output_type": "display_data",
                          "data": {SETTINGS_MIME: settings}, "metadata": {}}]}]})

    nb = tmp_path / "02_initialisation.ipynb"
    kept = json.loads(json.dumps({**now, "profile": "cpu", "results_dir": None}))
    nb.write_text(executed(kept))
    assert report.executed_settings(nb) == kept
    assert report.stale_params(nb, "cpu") == [], "tuples kept as lists are the same values"
    nb.write_text(executed({**kept, "inits": kept["inits"][:2], "epochs": kept["epochs"] + 1}))
    assert report.stale_params(nb, "cpu") == [
        f"epochs: ran with {now['epochs'] + 1}, params/cpu now say {now['epochs']}",
        f"inits: ran with {list(now['inits'][:2])!r}, params/cpu now say {now['inits']!r}"]


def test_the_cpu_report_trains_through_two_workers_unless_told(monkeypatch):
    from tickets import executor

    monkeypatch.delenv(executor.ENV, raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    env = report.profile_environment("cpu")
    assert env == {executor.ENV: "local:2"} and executor.parse(env[executor.ENV]).workers == 2
    assert report.profile_environment("cpu", tiny=True) == {"ONEDNN_MAX_CPU_ISA": "SSE41"}, \
        "a dry run trains inline, with oneDNN kept off its AVX2 kernels"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")
    assert report.profile_environment("gpu", tiny=True) == {}, "the caller's choice wins"
    assert report.profile_environment("gpu") == {} and report.profile_environment("smoke") == {}
    monkeypatch.setenv(executor.ENV, "inline")
    assert report.profile_environment("cpu") == {}, "the caller's choice wins"


def test_withdrawn_notebooks_show_withdrawn_until_executed_again(tmp_path):
    """A notebook voided by a bug found after it ran keeps its pages, but the index shows its
    claims as withdrawn, with the reason and neither the figures nor the verdict of the voided
    execution; executing the notebook again clears the mark."""
    parts = [{"name": "best RST minus dense", "estimate": -0.12, "low": -0.14, "high": -0.1,
              "level": 0.95, "n_images": 2000, "n_seeds": 1, "p_value": 0.0, "threshold": -0.03,
              "expected_sign": 1, "outcome": "contradicted", "percent": True, "unit": "images",
              "uninformative": ""}]
    record_verdict(tmp_path, claims.Verdict("rst-1", "contradicted", "RST 12.3 / 4.5", "why",
                                            parts=parts), "gpu scale")
    record_verdict(tmp_path, claims.Verdict("rst-8", "supported", "ours", "why"), "gpu scale")
    (tmp_path / "01_existence.html").write_text('<html><a id="claim-rst-1"></a></html>')
    (tmp_path / "07_transferability.html").write_text('<html><a id="claim-rst-8"></a></html>')
    report.atomic_write_json(tmp_path / report.WITHDRAWN, {"01_existence": "A bug voids it."})
    text = report.build_index(tmp_path, "smoke").read_text()
    row = next(r for r in text.split("<tr>") if "<b>rst-1</b>" in r)
    assert ">withdrawn</td>" in row and "A bug voids it." in row
    assert "contradicted" not in row and "best RST minus dense" not in row
    assert "RST 12.3 / 4.5" not in row  # the voided execution's figures are not shown
    other = next(r for r in text.split("<tr>") if "<b>rst-8</b>" in r)
    assert 'font-weight:bold">supported' in other and "withdrawn" not in other
    assert "Withdrawn results:" in text and "results withdrawn" in text
    assert report._clear_withdrawn(tmp_path, "07_transferability") is False  # not marked
    assert report.withdrawn(tmp_path) == {"01_existence": "A bug voids it."}
    assert report._clear_withdrawn(tmp_path, "01_existence") is True
    assert not (tmp_path / report.WITHDRAWN).exists()
    text = report.build_index(tmp_path, "smoke").read_text()
    assert "withdrawn" not in text.split("<tbody>")[1] and "Withdrawn results:" not in text


def _part(name, estimate, low, high, threshold, outcome, percent=True, **extra):
    return {"name": name, "estimate": estimate, "low": low, "high": high, "level": 0.95,
            "n_images": 1000, "n_seeds": 3, "p_value": None, "threshold": threshold,
            "expected_sign": 1, "outcome": outcome, "percent": percent, "unit": "images",
            "uninformative": "", **extra}


def _two_claims(tmp_path, scale="cpu profile: conv4, cifar10 JPEG q75 copy; PGD-20"):
    """rst-1 graded on two parts (one with the fields of the later rules: derivation, family
    outcome, an amendment), awt-2 on a part that is not an accuracy; pages for both."""
    parts = [_part("best RST minus dense", 0.02, 0.01, 0.03, -0.03, "supported",
                   derivation="the paper's gap of 2.3 points, rounded up",
                   family_outcome="supported"),
             _part("RST | its size", -0.02, -0.05, 0.01, -0.01, "inconclusive")]
    v = claims.Verdict("rst-1", "partly", "ours 1", "why", parts=parts,
                       amendments=[{"date": "2026-01-02", "part": "rst-1/match", "old": "3 points",
                                    "new": "2.3 points", "reason": "derived by the rule"}])
    record_verdict(tmp_path, v, scale)
    other = [_part("AWT minus snip, kernel distance", 0.3, 0.25, 0.35, 0.0, "contradicted",
                   percent=False)]
    record_verdict(tmp_path, claims.Verdict("awt-2", "contradicted", "ours 2", "why",
                                            parts=other), scale)
    (tmp_path / "01_existence.html").write_text('<html><a id="claim-rst-1"></a></html>')
    (tmp_path / "10_awt.html").write_text('<html><a id="claim-awt-2"></a></html>')


def test_every_index_build_writes_the_claims_table_as_markdown(tmp_path):
    import re

    _two_claims(tmp_path)
    report.build_index(tmp_path, "cpu")
    text = (tmp_path / "SUMMARY.md").read_text()
    assert text.startswith("# Claims at a glance: cpu profile\n")
    lines = text.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("| Claim |")))
    body = [line for line in lines[header + 2:] if line.startswith("| ")]
    assert len(body) == len(claims.CLAIMS), "one row per claim"
    row = next(line for line in body if "rst-1" in line)
    c = claims.claim("rst-1")
    assert row.startswith("| **[rst-1](01_existence.html#claim-rst-1)** ")
    assert "[01_existence](01_existence.ipynb)" in row and "| **partly** |" in row
    assert "ours 1" in row and c.title in row
    assert "best RST minus dense: **+2.0** \\[+1.0, +3.0\\], 3 seeds (paper: > -3) supported" in row
    assert "over the report (Holm): supported; threshold: the paper's gap of 2.3 points" in row
    assert "RST \\| its size" in row, "a | in a name would split the cell"
    assert len(re.findall(r"(?<!\\)\|", row)) == 7, "six cells"
    assert "inconclusive; over the report (Holm): –; threshold: –" in row
    assert "kernel distance: **+0.300** \\[+0.250, +0.350\\]" in text
    unrun = next(line for line in body if "rst-3" in line)
    assert "**not run**" in unrun and "02_initialisation.ipynb" not in unrun
    assert "**Scale** (study 01): cpu profile: conv4, cifar10 JPEG q75 copy; PGD-20." in text
    assert "**Data:** The CIFAR-10 images were read from an offline copy stored as JPEG" in text
    assert "- rst-1: 2026-01-02, rst-1/match: 3 points → 2.3 points (derived by the rule)" in text
    assert f"1 partly, 1 contradicted, {len(claims.CLAIMS) - 2} not run." in text


def test_the_data_note_appears_only_when_the_scale_says_so(tmp_path):
    _two_claims(tmp_path, scale="cpu profile: conv4, cifar10 original; PGD-20")
    report.build_index(tmp_path, "cpu")
    assert "**Data:**" not in (tmp_path / "SUMMARY.md").read_text()
    assert "<b>Data:</b>" not in (tmp_path / "index.html").read_text()


def test_update_readme_replaces_only_the_claims_block(tmp_path):
    out = tmp_path / "reports" / "cpu"
    _two_claims(out)
    readme = tmp_path / "README.md"
    before, after = "# tickets\n\nIntro.\n\n", "\n## Next\n\nMore.\n"
    readme.write_text(before + "<!-- claims:start -->\nold table\n<!-- claims:end -->" + after)
    assert report.update_readme(readme, "cpu", out) is True
    text = readme.read_text()
    assert text.startswith(before + "<!-- claims:start -->\n") and text.endswith(
        "<!-- claims:end -->" + after)
    assert "old table" not in text and "# Claims at a glance" not in text
    assert "**[rst-1](reports/cpu/01_existence.html#claim-rst-1)**" in text
    assert "[10_awt](reports/cpu/10_awt.ipynb)" in text, "links relative to the README"
    assert "**Data:** The CIFAR-10 images" in text and "(reports/cpu/SUMMARY.md)" in text
    assert "Do the networks learn?" not in text, "the rest stays in SUMMARY.md"
    assert report.update_readme(readme, "cpu", out) is False, "nothing new: untouched"
    assert readme.read_text() == text
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no block here\n")
    assert report.update_readme(plain, "cpu", out) is False
    assert plain.read_text() == "no block here\n"
    plain.write_text("<!-- claims:end -->\n<!-- claims:start -->\n")
    with pytest.raises(ValueError, match="claims:start"):
        report.update_readme(plain, "cpu", out)


def test_the_forest_plot_has_one_row_per_part_coloured_by_outcome(tmp_path):
    import re

    _two_claims(tmp_path)
    text = report.build_index(tmp_path, "cpu").read_text()
    svgs = re.findall(r"<svg .*?</svg>", text, flags=re.S)
    assert len(svgs) == 2, "accuracy differences and the others in separate panels"
    acc, other = svgs
    rows = re.findall(r'<g class="part" data-claim="([^"]+)" data-outcome="([^"]+)">', acc)
    assert rows == [("rst-1", "supported"), ("rst-1", "inconclusive")]
    assert re.findall(r'<g class="part" data-claim="([^"]+)"', other) == ["awt-2"]
    for svg, outcome in ((acc, "supported"), (acc, "inconclusive"), (other, "contradicted")):
        row = next(g for g in svg.split("<g ")[1:] if f'data-outcome="{outcome}"' in g)
        assert f'fill="{report._COLOURS[outcome]}"' in row
    assert acc.count('class="threshold"') == 2 and acc.count('class="interval"') == 2
    assert "best RST minus dense" in acc and "+3.0" in acc
    # a withdrawn notebook's parts leave the plot
    report.atomic_write_json(tmp_path / report.WITHDRAWN, {"10_awt": "A bug voids it."})
    text = report.build_index(tmp_path, "cpu").read_text()
    assert len(re.findall(r"<svg .*?</svg>", text, flags=re.S)) == 1
    assert 'data-claim="awt-2"' not in text


def test_the_forest_plot_puts_estimate_interval_and_threshold_in_place():
    """On the accuracy panel, the estimate's dot lies inside its interval's line and the
    threshold mark sits where its value falls between the interval's ends."""
    import re

    from tickets.report import forest
    from tickets.report.records import ClaimRow

    row = ClaimRow(claims.claim("rst-1"), {"parts": [
        _part("a", 0.02, 0.0, 0.04, 0.01, "inconclusive")], "anchor": "claim-rst-1"},
        "inconclusive", None, True)
    svg = forest.forest_svg([row])
    x1, x2 = (float(v) for v in re.search(r'class="interval" x1="([\d.]+)" y1="[\d.]+" '
                                          r'x2="([\d.]+)"', svg).groups())
    cx = float(re.search(r'class="estimate" cx="([\d.]+)"', svg).group(1))
    xt = float(re.search(r'class="threshold" d="M([\d.]+),', svg).group(1))
    assert x1 < xt < cx < x2
    assert cx == pytest.approx((x1 + x2) / 2, abs=0.1)
    assert forest.PLOT_X0 <= x1 and x2 <= forest.PLOT_X1
    assert forest.forest_svg([]) == ""


def test_the_index_shows_derivation_family_outcome_and_amendments_or_a_dash(tmp_path):
    _two_claims(tmp_path)
    text = report.build_index(tmp_path, "cpu").read_text()
    row = next(r for r in text.split("<tr>") if "<b>rst-1</b>" in r)
    assert "over the report (Holm): supported; threshold: the paper&#39;s gap of 2.3" in row
    assert "over the report (Holm): –; threshold: –" in row
    assert "<li>2026-01-02, rst-1/match: 3 points → 2.3 points (derived by the rule)</li>" in row
    # awt-2's record carries no amendment: the registry's amendments to it were made after
    # its notebook ran, and show as not applied
    from tickets.claims.registry import amendments_for

    later = next(r for r in text.split("<tr>") if "<b>awt-2</b>" in r)
    cell = later[later.index('<td class="amend">'):]
    assert "<b>Not applied in this execution</b>" in cell and "–" not in cell
    assert cell.count('<li class="more">') == len(amendments_for("awt-2")) > 0
    assert '<li class="more">2026-12-02, awt-2/kernel: ' in cell


def test_a_record_that_carries_every_amendment_of_its_claim_shows_none_pending(tmp_path):
    """Only a change the record lacks (date, part, old and new design) is pending; the
    summary lists each pending change once, with the claims whose records predate it."""
    from tickets.claims.registry import amendments_for, pending_amendments
    from tickets.report.summary import summary_markdown

    every = amendments_for("awt-2")
    assert pending_amendments({"claim": "awt-2", "amendments": every}) == []
    assert pending_amendments({"claim": "awt-2", "amendments": every[1:]}) == every[:1]
    reworded = [{**a, "reason": "worded otherwise then"} for a in every]
    assert pending_amendments({"claim": "awt-2", "amendments": reworded}) == []
    assert pending_amendments(None) == [] and pending_amendments({"amendments": []}) == []

    _two_claims(tmp_path)
    text = summary_markdown(tmp_path, "cpu")
    block = text[text.index("**Not applied in the committed execution**"):]
    shared = [line for line in block.splitlines() if line.startswith("- ") and "every part" in line]
    assert shared and all(line.startswith("- rst-1, awt-2: ") for line in shared)
    (tmp_path / "results" / "awt-2.json").write_text(json.dumps(
        {**json.loads((tmp_path / "results" / "awt-2.json").read_text()), "amendments": every}))
    text = summary_markdown(tmp_path, "cpu")
    assert "awt-2" not in text[text.index("**Not applied in the committed execution**"):]
    row = next(r for r in report.build_index(tmp_path, "cpu").read_text().split("<tr>")
               if "<b>awt-2</b>" in r)
    assert "Not applied" not in row


def test_an_amendment_shows_the_registry_s_present_reason_for_the_same_change():
    """A record keeps the change it ran under; its reason is shown as the registry words it
    now, and a change the registry no longer holds keeps the recorded reason."""
    from tickets.claims.registry import AMENDMENTS
    from tickets.report.records import amendments_text

    a = AMENDMENTS[-1]
    same = {"date": a.date, "part": a.part, "old": a.old, "new": a.new, "reason": "outdated"}
    other = {**same, "new": "a change the registry never held"}
    shown = amendments_text({"amendments": [same, other]})
    assert shown[0].endswith(f"({a.reason})") and "outdated" not in shown[0]
    assert shown[1].endswith("(outdated)")


def test_the_report_settings_come_from_params_report_yaml(tmp_path):
    from tickets.report import settings
    from tickets.studies.existence import SAME_WIDTH

    assert settings.SETTINGS_FILE == ROOT / "params" / "report.yaml"
    assert report.ACCURACY_TARGETS["cpu"] == {"best RST": (0.38, 0.24), SAME_WIDTH: (0.45, 0.28)}
    assert report.PROFILE_EXECUTOR == {"cpu": "local:2"}
    assert settings.profile_label("cpu") and settings.data_notes(["original"]) == []
    bad = tmp_path / "report.yaml"
    for text, match in (("profiles: {laptop: {}}", "profile='laptop'"),
                        ("profiles: {cpu: {colour: red}}", "unknown keys"),
                        ("profiles: {cpu: {accuracy_targets: {best RST: [38, 24]}}}",
                         "fractions"),
                        ("profiles: {cpu: {accuracy_targets: {best net: [0.3, 0.2]}}}",
                         "model='best net'"),
                        ("data_notes: [{when: JPEG}]", "data_notes\\[0\\]")):
        bad.write_text(text)
        with pytest.raises(ValueError, match=match):
            settings.read_settings(bad)


def test_the_report_grades_its_parts_as_one_family_when_every_record_can(tmp_path):
    """With p-values on every part, each part shows its outcome after Holm over the report:
    rst-1's first part (p = 0.002 <= 0.05 / 3) survives, awt-2's (p = 0.04 > 0.05 / 2) does
    not; without them on some record, no family outcome is shown and the page says why."""
    import json

    _two_claims(tmp_path)
    text = report.build_index(tmp_path, "cpu").read_text()
    assert "Over the report (Holm): not computed" in text and "rst-1, awt-2" in text
    for cid, ps in (("rst-1", [(0.001, 0.999), (0.2, 0.8)]), ("awt-2", [(0.98, 0.02)])):
        f = tmp_path / "results" / f"{cid}.json"
        r = json.loads(f.read_text())
        for p, (s, c) in zip(r["parts"], ps, strict=True):
            p.update(p_supported=s, p_contradicted=c)
        report.atomic_write_json(f, r)
    text = report.build_index(tmp_path, "cpu").read_text()
    assert "report's\n3 graded part(s) at alpha 0.05" in text
    rst1 = next(r for r in text.split("<tr>") if "<b>rst-1</b>" in r)
    assert rst1.count("over the report (Holm): supported;") == 1
    assert rst1.count("over the report (Holm): inconclusive;") == 1
    assert "partly<br><span class=\"more\">over the report (Holm): partly</span>" in rst1
    awt2 = next(r for r in text.split("<tr>") if "<b>awt-2</b>" in r)
    assert "contradicted<br><span class=\"more\">over the report (Holm): inconclusive" in awt2
    summary = (tmp_path / "SUMMARY.md").read_text()
    assert "**partly**<br>over the report (Holm): partly" in summary
    assert "Holm-Bonferroni over the report's 3 graded part(s) at alpha 0.05" in summary


def test_an_exact_zero_difference_gets_a_readable_axis():
    import re

    from tickets.report import forest
    from tickets.report.records import ClaimRow

    row = ClaimRow(claims.claim("rst-10"), {"parts": [
        _part("PGD minus AutoAttack", 0.0, 0.0, 0.0, 0.0, "inconclusive")],
        "anchor": "claim-rst-10"}, "inconclusive", None, True)
    ticks = re.findall(r'fill="#57606a">([^<]+)</text>', forest.forest_svg([row]))
    assert ticks[:-1] == ["-1", "-0.5", "0", "+0.5", "+1"], "one point either side of zero"


def test_only_the_cpu_report_in_its_own_folder_refreshes_the_readme(tmp_path, monkeypatch):
    from tickets.report import cli

    monkeypatch.setattr(cli, "ROOT", tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- claims:start -->\n<!-- claims:end -->\n")
    for folder, profile in ((tmp_path / "elsewhere", "cpu"), (tmp_path / "reports" / "gpu", "gpu")):
        _two_claims(folder)
        cli.write_index(folder, profile)
        assert (folder / "SUMMARY.md").exists() and (folder / "index.html").exists()
        assert "rst-1" not in readme.read_text()
    _two_claims(tmp_path / "reports" / "cpu")
    cli.write_index(tmp_path / "reports" / "cpu", "cpu")
    assert "[rst-1](reports/cpu/01_existence.html#claim-rst-1)" in readme.read_text()


def test_a_study_at_another_scale_is_listed_with_its_yaml_reason(tmp_path, monkeypatch):
    """The reason is the YAML's leading comment, up to the line that heads its settings."""
    from tickets.report import checks

    (tmp_path / "params" / "cpu").mkdir(parents=True)
    (tmp_path / "params" / "cpu" / "09.yaml").write_text(
        "# Boosting on 2k images.\n# Each ticket costs three trainings.\n"
        "# Changes to the profile's scale, each with its reason:\nn_train: 2000\n")
    monkeypatch.setattr(checks, "ROOT", tmp_path)
    results = {"rst-1": {"scale": "cpu: 10000 train; PGD-20"},
               "rst-2": {"scale": "cpu: 10000 train; PGD-20 on 500"},
               "boost-1": {"scale": "cpu: 2000 train; PGD-10"},
               "boost-2": {"scale": "cpu: 2000 train; PGD-10"}}
    assert report.other_scales(results, "cpu") == [
        {"notebook": "09_boosting", "scale": "cpu: 2000 train; PGD-10",
         "why": "Boosting on 2k images. Each ticket costs three trainings."}]


def test_a_dry_run_sets_its_environment_for_the_kernel_alone(tmp_path, monkeypatch):
    """The kernel gets the dry run's variables (its oneDNN cap, no progress bars, the notebook
    for the store's ledger); the calling process gets its own environment back, so that
    workers it spawns later do not inherit them (their numbers would differ from inline runs)."""
    import papermill

    seen = {}

    def fake_execute(src, dst, **kw):
        seen.update({k: os.environ.get(k) for k in ("ONEDNN_MAX_CPU_ISA", "TICKETS_PROGRESS")})

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setenv("TICKETS_PROGRESS", "1")
    nb = report.notebooks(["07"])[0]
    report.execute(nb, "gpu", tmp_path, tiny=True)
    assert seen == {"ONEDNN_MAX_CPU_ISA": "SSE41", "TICKETS_PROGRESS": "0"}
    assert "ONEDNN_MAX_CPU_ISA" not in os.environ and os.environ["TICKETS_PROGRESS"] == "1"


def test_a_verdict_record_keeps_the_machine_that_computed_it(tmp_path):
    """AVX2 and AVX-512 kernels train different nets from one configuration (docs/method.md),
    so a record says which kernels, threads and torch computed it."""
    import torch

    from tickets.accel import machine
    from tickets.notebook import Study, show_verdict

    where = machine()
    assert torch.__version__ in where and "torch threads" in where
    assert f"CPU kernels {torch.backends.cpu.get_cpu_capability()}" in where
    s = Study("smoke", str(tmp_path), None, None, None, "smoke scale", where)
    show_verdict(s, claims.Verdict("rst-2", "partly", "ours", "why"))
    rec = json.loads((tmp_path / "results" / "rst-2.json").read_text())
    assert rec["machine"] == where
    with pytest.raises(ValueError, match="machine"):  # a notebook's extra field may not replace it
        show_verdict(s, claims.Verdict("rst-2", "partly", "ours", "why"), machine="elsewhere")
