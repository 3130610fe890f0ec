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
        unknown = set(params) - names
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

    def row(kind, r, seed, clean, pgd):
        return {"kind": kind, "remaining": r, "seed": seed, "clean": clean, "pgd": pgd,
                "n_test": 1000}

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


def test_the_cpu_report_trains_through_two_workers_unless_told(monkeypatch):
    from tickets import executor

    monkeypatch.delenv(executor.ENV, raising=False)
    env = report.profile_environment("cpu")
    assert env == {executor.ENV: "local:2"} and executor.parse(env[executor.ENV]).workers == 2
    assert report.profile_environment("cpu", tiny=True) == {}
    assert report.profile_environment("gpu") == {} and report.profile_environment("smoke") == {}
    monkeypatch.setenv(executor.ENV, "inline")
    assert report.profile_environment("cpu") == {}, "the caller's choice wins"


def test_withdrawn_notebooks_show_withdrawn_until_executed_again(tmp_path):
    """A notebook voided by a bug found after it ran keeps its pages, but the index shows its
    claims as withdrawn, with the reason and the verdict the notebook computed, instead of
    grading them; executing the notebook again clears the mark."""
    parts = [{"name": "best RST minus dense", "estimate": -0.12, "low": -0.14, "high": -0.1,
              "level": 0.95, "n_images": 2000, "n_seeds": 1, "p_value": 0.0, "threshold": -0.03,
              "expected_sign": 1, "outcome": "contradicted", "percent": True, "unit": "images",
              "uninformative": ""}]
    record_verdict(tmp_path, claims.Verdict("rst-1", "contradicted", "ours", "why", parts=parts),
                   "gpu scale")
    record_verdict(tmp_path, claims.Verdict("rst-8", "supported", "ours", "why"), "gpu scale")
    (tmp_path / "01_existence.html").write_text('<html><a id="claim-rst-1"></a></html>')
    (tmp_path / "07_transferability.html").write_text('<html><a id="claim-rst-8"></a></html>')
    report.atomic_write_json(tmp_path / report.WITHDRAWN, {"01_existence": "A bug voids it."})
    text = report.build_index(tmp_path, "smoke").read_text()
    row = next(r for r in text.split("<tr>") if "<b>rst-1</b>" in r)
    assert ">withdrawn</td>" in row and "A bug voids it." in row
    assert "The notebook computed: contradicted." in row and "best RST minus dense" not in row
    other = next(r for r in text.split("<tr>") if "<b>rst-8</b>" in r)
    assert ">supported</td>" in other and "withdrawn" not in other
    assert "Withdrawn results:" in text and "results withdrawn" in text
    report._clear_withdrawn(tmp_path, "07_transferability")  # not marked: nothing changes
    assert report.withdrawn(tmp_path) == {"01_existence": "A bug voids it."}
    report._clear_withdrawn(tmp_path, "01_existence")
    assert not (tmp_path / report.WITHDRAWN).exists()
    text = report.build_index(tmp_path, "smoke").read_text()
    assert "withdrawn" not in text.split("<tbody>")[1] and "Withdrawn results:" not in text
