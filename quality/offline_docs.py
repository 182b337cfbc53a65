"""Data Docs that work offline: GX's pages load Bootstrap, jQuery, bootstrap-table and Font
Awesome from CDNs; without the internet the index is blank and the status icons missing.
``make_offline`` copies the same files (vendored in ``docs_static/``, see its SOURCES.md)
into the site and points every page at them with relative links."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VENDORED = Path(__file__).with_name("docs_static")
SITE_FOLDER = Path("static") / "vendor"  # inside the Data Docs site

# the CDN link in GX's templates -> the vendored file (relative to docs_static/)
CDN_FILES = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap-4.3.1/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1/bootstrap.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js-1.12.9/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table-1.19.1/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table-1.19.1/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome-free-6.6.0/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css",
}  # fmt: skip
# chart libraries no alphaduck page uses (no expectation of ours has a chart): dropped
UNUSED_SCRIPTS = re.compile(r'<script[^>]*src="https://cdn\.jsdelivr\.net/npm/vega[^"]*"[^>]*>\s*</script>\s*')
# a file:// page may not load a script with crossorigin set (and SRI needs CORS): every load
# is a local copy now, checked against GX's hashes by the tests instead
CROSS_ORIGIN = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"')
# GX writes ../../../../static/... into validation pages five folders deep (its favicon
# link, for one, then misses): every link into the site's static/ is recomputed from the page
SITE_STATIC = re.compile(r'(src|href)="(?:\.\./)*static/([^"]+)"')
GX_LOGO = re.compile(r'src="https://great-expectations-web-assets\.s3[^"]*/logo-long\.png[^"]*"')
# what may still point outside after the rewrite: nothing a page loads (links a reader clicks are fine)
REMOTE_LOAD = re.compile(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(https?://[^"]+)"', re.IGNORECASE)


def _relative(target: Path, page: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def offline_page(text: str, page: Path, site: Path) -> str:
    """``text`` of the Data Docs page at ``page`` with every CDN load pointed at the site's copy."""
    for url, local in CDN_FILES.items():
        text = text.replace(url, (SITE_FOLDER / local).as_posix())  # made relative to the page below
    text = CROSS_ORIGIN.sub("", UNUSED_SCRIPTS.sub("", text))
    text = GX_LOGO.sub('src="static/images/logo-long.png"', text)
    return SITE_STATIC.sub(lambda m: f'{m.group(1)}="{_relative(site / "static" / m.group(2), page)}"', text)


def make_offline(site: Path) -> list[str]:
    """Vendor the CDN files into the Data Docs ``site`` and rewrite its pages to load them;
    returns what the pages still load from the network (nothing, unless GX's templates
    changed: the gate's tests fail then, naming it)."""
    shutil.copytree(VENDORED, site / SITE_FOLDER, dirs_exist_ok=True, ignore=shutil.ignore_patterns("SOURCES.md"))
    remote: set[str] = set()
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        offline = offline_page(text, page, site)
        if offline != text:
            page.write_text(offline, encoding="utf-8")
        remote.update(REMOTE_LOAD.findall(offline))
    return sorted(remote)
