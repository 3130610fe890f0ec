"""The import graph: the studies are siblings over one core, and nothing low imports high.

Floors, bottom up: config; data, layers, store, stats; models, attacks, ntk, r2s, compact,
sanity, train, and the mask makers (masks.bits, masks.prune, masks.ntt, masks.ticket);
profiles, parameters, recipes; the mask registry (masks.registry), evaluation, sweeps (the core
every study uses); then the studies, the claims, and what notebooks and `make report` call
(notebook, plots, the report and bench packages).
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "tickets"
TOP = {"tickets.notebook", "tickets.report", "tickets.plots", "tickets.bench", "tickets.devicerun",
       "tickets.ddprun"}


def _name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_exists(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PKG / rel).with_suffix(".py").exists() or (PKG / rel / "__init__.py").exists()


def _imports(path: Path) -> set[str]:
    """Every tickets module path imports, at the top or inside a function; `from package
    import module` counts as importing the module."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tickets"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if _module_exists(sub) else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("tickets")}
    return out


GRAPH = {_name(p): _imports(p) - {_name(p)} for p in PKG.rglob("*.py")}


def _is(mod: str, package: str) -> bool:
    return mod == package or mod.startswith(package + ".")


def test_the_graph_was_read():
    assert "tickets.studies.awt" in GRAPH and "tickets.evaluation" in GRAPH["tickets.sweeps"]


def test_no_study_imports_another_study():
    for mod, deps in GRAPH.items():
        if _is(mod, "tickets.studies"):
            others = {d for d in deps if _is(d, "tickets.studies")}
            assert not others, f"{mod} imports {others}: move what they share into the core"


def test_the_core_imports_no_study_claim_or_notebook_helper():
    high = ("tickets.studies", "tickets.claims", *TOP)
    for mod, deps in GRAPH.items():
        if any(_is(mod, h) for h in high):
            continue
        bad = {d for d in deps if any(_is(d, h) for h in high)}
        assert not bad, f"core module {mod} imports {bad}"


def test_claims_depend_only_on_themselves_and_statistics():
    for mod, deps in GRAPH.items():
        if _is(mod, "tickets.claims"):
            bad = {d for d in deps if not (_is(d, "tickets.claims") or d == "tickets.stats")}
            assert not bad, f"{mod} imports {bad}"


def test_the_bottom_floors_have_no_loops():
    assert GRAPH["tickets.config"] == set(), "config imports nothing of the package"
    assert GRAPH["tickets.store"] <= {"tickets.config"}
    assert "tickets.config" not in GRAPH["tickets.models"] or "tickets.models" not in GRAPH[
        "tickets.config"]
    for mod, deps in GRAPH.items():
        for d in deps:
            assert mod not in GRAPH.get(d, set()), f"{mod} and {d} import each other"


def test_masks_have_one_home():
    """Every fixed mask is made in tickets.masks: no module outside it defines a mask-making
    method by name, and the low mask modules stay below the training loop."""
    assert GRAPH["tickets.masks.bits"] == set()
    for low in ("tickets.masks.prune", "tickets.masks.ntt"):
        assert GRAPH[low] <= {"tickets.config", "tickets.layers"}, low
    assert not any(_is(d, "tickets.masks") for d in GRAPH["tickets.train"])
    assert not (PKG / "prune.py").exists() and not (PKG / "masks.py").exists()
    for mod in GRAPH:
        if _is(mod, "tickets.masks"):
            continue
        src = (PKG.parent / Path(*mod.split("."))).with_suffix(".py")
        if not src.exists():
            src = PKG.parent / Path(*mod.split(".")) / "__init__.py"
        text = src.read_text()
        for maker in ("def random_masks", "def magnitude_masks", "def snip_masks",
                      "def neural_tangent_transfer"):
            assert maker not in text, f"{mod} makes masks ({maker}): that belongs in tickets.masks"


def test_report_and_bench_are_packages_of_small_modules():
    for pkg in ("report", "bench"):
        modules = list((PKG / pkg).glob("*.py"))
        assert len(modules) >= 5, pkg
        for f in modules:
            lines = len(f.read_text().splitlines())
            assert lines <= 400, f"{f.name} of tickets.{pkg} has {lines} lines: split it"


def test_profiles_and_parameters_sit_below_the_studies():
    for mod in ("tickets.profiles", "tickets.parameters", "tickets.recipes"):
        bad = {d for d in GRAPH[mod] if _is(d, "tickets.studies") or _is(d, "tickets.claims")}
        assert not bad, f"{mod} imports {bad}"
