from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from tickets import claims, report

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


def _rst_table(pgd, ratios=(0.01, 0.05, 0.2, 0.5, 0.9)):
    return pd.DataFrame({"kind": "RST", "remaining": list(ratios), "pgd20": pgd,
                         "clean": [p + 0.2 for p in pgd]})


def test_index_links_resolve_and_unrun_claims_say_so(tmp_path):
    v = claims.Verdict("rst-2", "partly", "ours", "why")
    report.record_verdict(tmp_path, v, "smoke scale", "01_existence", "claim-rst-2")
    (tmp_path / "01_existence.html").write_text('<html><a id="claim-rst-2"></a></html>')
    index = report.build_index(tmp_path, "smoke")
    assert check_links_resolve(index) >= 2
    text = index.read_text()
    assert "partly" in text and text.count("not run") == len(claims.CLAIMS) - 1


def test_index_builder_catches_a_missing_anchor(tmp_path):
    v = claims.Verdict("rst-2", "partly", "ours", "why")
    report.record_verdict(tmp_path, v, "smoke", "01_existence", "claim-rst-2")
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


def test_inverted_u_verdicts():
    u = claims.verdict_inverted_u(_rst_table([0.10, 0.25, 0.30, 0.22, 0.05]))
    assert u.verdict == "reproduced"
    shifted = claims.verdict_inverted_u(_rst_table([0.10, 0.12, 0.15, 0.30, 0.05]))
    assert shifted.verdict == "partly"  # an inverted U, but peaking outside 5-20 %
    flat = claims.verdict_inverted_u(_rst_table([0.30, 0.25, 0.20, 0.15, 0.05]))
    assert flat.verdict == "not reproduced"


def test_existence_verdicts():
    rst = _rst_table([0.10, 0.25, 0.30, 0.22, 0.05])
    dense = pd.DataFrame({"kind": ["same", "small"], "pgd20": [0.32, 0.28],
                          "clean": [0.5, 0.45]})
    assert claims.verdict_existence(rst, dense).verdict == "reproduced"
    dense_far = dense.assign(pgd20=[0.40, 0.35])
    assert claims.verdict_existence(rst, dense_far).verdict == "not reproduced"
    dense_mixed = dense.assign(pgd20=[0.40, 0.28])
    assert claims.verdict_existence(rst, dense_mixed).verdict == "partly"


def test_aa_gap_verdicts():
    rows = pd.DataFrame({"kind": ["RST", "RST", "dense"], "aa": [0.10, 0.12, 0.2],
                         "pgd20_on_aa_images": [0.20, 0.19, 0.21]})
    assert claims.verdict_aa_gap(rows).verdict == "reproduced"
    close = rows.assign(aa=[0.195, 0.185, 0.2])
    assert claims.verdict_aa_gap(close).verdict == "not reproduced"


def test_bad_verdicts_are_rejected():
    with pytest.raises(ValueError, match="verdict"):
        claims.Verdict("rst-1", "sort of", "", "")
    with pytest.raises(ValueError, match="claim"):
        claims.Verdict("rst-99", "partly", "", "")


def test_ties_are_no_evidence():
    t = pd.DataFrame({"variant": ["signed_constant", "kaiming_normal"] * 2,
                      "remaining": [0.1, 0.1, 0.5, 0.5], "pgd20": [0.0] * 4, "n_test": 100})
    assert claims.verdict_initialisation(t).verdict == "not reproduced"
    s = pd.DataFrame({"variant": ["pgd", "fgsm", "fgsm_rs"], "remaining": 0.1,
                      "pgd20": [0.0] * 3, "n_test": 100})
    assert claims.verdict_search_attack(s).verdict == "not reproduced"
    s2 = s.assign(pgd20=[0.3, 0.2, 0.1])
    assert claims.verdict_search_attack(s2).verdict == "reproduced"
    init = t.assign(pgd20=[0.3, 0.2, 0.25, 0.2])
    assert claims.verdict_initialisation(init).verdict == "reproduced"


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
