"""Executed notebooks to HTML pages (nbconvert), and pages to PNG screenshots (Chromium)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tickets.store import atomic_write_bytes


def to_html(executed: Path) -> Path:
    """The executed notebook as an HTML page beside it, without code or prompts, and without
    the resolved settings the notebook kept for the report's stale check
    (tickets.notebook.SETTINGS_MIME: printed as a table above them already)."""
    import nbformat
    from nbconvert import HTMLExporter

    from tickets.notebook import SETTINGS_MIME

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        if cell.get("outputs"):
            cell.outputs = [o for o in cell.outputs if SETTINGS_MIME not in o.get("data", {})]
    exporter = HTMLExporter()
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    out = executed.with_suffix(".html")
    atomic_write_bytes(out, body.encode())
    return out


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 1600) -> Path:
    """A PNG of `page` rendered by headless Chromium at width x height pixels."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile_dir:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile_dir}", f"--window-size={width},{height}",
                        f"--screenshot={png}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return png
