"""The static site (`make site`): it builds from the committed runs without executing them, every page, link and
image resolves, claims tables are tables, and a real browser (Debian's chromium) renders the figures."""

import base64
import functools
import http.server
import importlib.util
import re
import struct
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from mtlkit import replication

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "build" / "site-screenshots"  # kept after the run: one PNG per page the browser loads

_spec = importlib.util.spec_from_file_location("site_build", ROOT / "site" / "build.py")
site_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site_build)
STUDIES = site_build.studies()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """One fresh build for the whole module, staged and cached in a temporary folder (build/ is left alone)."""
    work = tmp_path_factory.mktemp("site")
    site_build.build(work / "html", work=work)
    return work / "html"


class Page(HTMLParser):
    """The ids, links (a, link: href) and embedded files (img, script: src) of one HTML page."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str]] = []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for attr in {"a": ("href",), "link": ("href",), "img": ("src",), "script": ("src",)}.get(tag, ()):
            if a.get(attr):
                self.refs.append((f"{tag}[{attr}]", a[attr]))


def broken_refs(root: Path) -> list[str]:
    """Every internal href/src of every page under ``root`` that names no file in ``root`` (or no id in it)."""
    pages = {p: Page(p) for p in root.rglob("*.html")}
    broken = []
    for path, page in pages.items():
        for what, ref in page.refs:
            url = urlsplit(ref)
            if url.scheme or ref.startswith("//"):  # http(s), mailto, data: not the site's own files
                continue
            target = (path.parent / unquote(url.path)).resolve() if url.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or not target.is_relative_to(root.resolve()):
                broken.append(f"{path.relative_to(root)}: {what} {ref} (no such file)")
            elif url.fragment and target.suffix == ".html" and target in pages:
                if url.fragment not in pages[target].ids:
                    broken.append(f"{path.relative_to(root)}: {what} {ref} (no id {url.fragment!r})")
    return broken


def expected_pages() -> list[str]:
    docs = [f"docs/{p.stem}.html" for p in sorted((ROOT / "docs").glob("*.md"))]
    return ["index.html", *docs, *(f"results/{s}/{s}.html" for s in STUDIES)]


def test_every_study_doc_and_the_glossary_is_a_page_linked_from_the_landing_page(site):
    assert len(STUDIES) >= 5 and "docs/glossary.html" in expected_pages()
    for page in expected_pages():
        assert (site / page).is_file(), page
    linked = {urlsplit(ref).path for what, ref in Page(site / "index.html").refs if what == "a[href]"}
    assert set(expected_pages()) - {"index.html"} <= linked, (
        "the landing page's table of contents misses a page"
    )


def test_every_link_and_image_resolves(site):
    assert not broken_refs(site), "\n".join(broken_refs(site))


def test_the_link_check_fails_on_a_broken_link_or_image(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ok.html").write_text('<p id="here">x</p><img src="../pic.png"><a href="#here">h</a>')
    (tmp_path / "pic.png").write_bytes(b"png")
    (tmp_path / "index.html").write_text(
        '<a href="sub/ok.html#here">ok</a><a href="https://example.org/x">ext</a>'
    )
    assert broken_refs(tmp_path) == []
    (tmp_path / "index.html").write_text(
        '<a href="sub/gone.html">x</a><img src="nope.png"><a href="sub/ok.html#no">'
    )
    assert len(broken_refs(tmp_path)) == 3


def png_outputs(study: str) -> list[str]:
    nb = nbformat.read(ROOT / "results" / study / f"{study}.ipynb", as_version=4)
    return [
        o.data["image/png"]
        for c in nb.cells
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]


@pytest.mark.parametrize("study", STUDIES)
def test_study_pages_show_every_figure_and_the_claims_table(site, study):
    html = (site / "results" / study / f"{study}.html").read_text(encoding="utf-8")
    images = [
        ref for what, ref in Page(site / "results" / study / f"{study}.html").refs if what == "img[src]"
    ]
    assert len(images) == len(png_outputs(study)) > 0
    tables = re.findall(r"<table.*?</table>", html, re.S)
    claims = [t for t in tables if re.search(r"<th[^>]*>\s*(<p>)?\s*verdict", t)]
    assert claims, "the claims table (a Markdown output) did not render as an HTML table"
    assert re.search(r"<td[^>]*>\s*(<p>)?\s*(reproduced|contradicted|inconclusive)", claims[-1])


def test_the_site_never_executes_notebooks():
    conf = (ROOT / "site" / "conf.py").read_text()
    assert re.search(r'^nb_execution_mode = "off"', conf, re.M)


# ---- a real browser ---------------------------------------------------------------------------------------------


def main_figure(study: str) -> str:
    """The figure the README's studies table shows for ``study``, e.g. ``budget`` for 03_task_grouping."""
    readme = (ROOT / "README.md").read_text()
    return re.search(rf"\(results/{study}/figures/(\w+)\.png\)", readme).group(1)


def png_width(b64: str) -> int:
    return struct.unpack(">I", base64.b64decode(b64)[16:20])[0]


@pytest.fixture(scope="module")
def served(site):
    """The built site over HTTP on loopback, as a reader's browser would get it."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing: `apt-get install chromium chromium-driver` (.ci/run does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1400,1800",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        options.add_argument(flag)
    with (
        pytest.MonkeyPatch.context() as mp
    ):  # the driver is given: Selenium Manager must never run (it downloads)
        mp.setattr(SeleniumManager, "binary_paths", lambda *a: pytest.fail("Selenium Manager was invoked"))
        driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        try:
            yield driver
        finally:
            driver.quit()


LOAD_IMAGES = """
const done = arguments[arguments.length - 1];
for (const img of document.images) img.loading = "eager";
const pending = [...document.images].filter(i => !i.complete).map(i => new Promise(r => { i.onload = i.onerror = r; }));
Promise.all(pending).then(() => done([...document.images].map(i => ({
    src: i.getAttribute("src"), complete: i.complete, width: i.naturalWidth, shown: i.getBoundingClientRect().width}))));
"""


def load(browser, url: str) -> list[dict]:
    """Open ``url``, wait for every image (lazy ones too), and describe them."""
    browser.set_script_timeout(30)
    browser.get(url)
    return browser.execute_async_script(LOAD_IMAGES)


def screenshot(browser, name: str, tmp_path: Path) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(tmp_path / f"{name}.png"))
    assert browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    return SCREENSHOTS / f"{name}.png"


def assert_rendered(images: list[dict]) -> None:
    assert images, "no <img> on the page"
    broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not render: {broken}"


def test_browser_renders_the_landing_page_with_every_studys_figure(browser, served, tmp_path):
    images = load(browser, f"{served}/index.html")
    assert_rendered(images)
    shown = {Path(i["src"]).stem: i["shown"] for i in images}
    for study in STUDIES:
        assert shown.get(main_figure(study), 0) > 50, f"{study}'s figure is not shown on the landing page"
    assert browser.title.startswith("mtlkit")
    screenshot(browser, "index", tmp_path)


def test_browser_renders_a_study_page_with_its_main_figure(browser, served, tmp_path):
    study = "03_task_grouping"
    images = load(browser, f"{served}/results/{study}/{study}.html")
    assert_rendered(images)
    assert len(images) == len(png_outputs(study))
    # the main figure is the output of the cell that saves it; it must show at its own size, not as a stub
    figure = browser.execute_script(
        """const cell = [...document.querySelectorAll("div.cell")].find(
               c => c.querySelector(".cell_input").textContent.includes('"' + arguments[0] + '")'));
           const img = cell && cell.querySelector(".cell_output img");
           if (!img) return null;
           img.scrollIntoView({block: "center", behavior: "instant"});
           return {width: img.naturalWidth, shown: img.getBoundingClientRect().width};""",
        main_figure(study),
    )
    nb = nbformat.read(ROOT / "results" / study / f"{study}.ipynb", as_version=4)
    saved = next(c for c in nb.cells if f'"{main_figure(study)}")' in c.source)
    expected = png_width(next(o.data["image/png"] for o in saved.outputs if "image/png" in o.get("data", {})))
    assert figure and figure["width"] == expected and figure["shown"] > 300, figure
    screenshot(browser, study, tmp_path)


def test_claims_tables_mark_the_verdicts_their_replication_calls_fragile(site):
    """The notebook runs before its replication; the site marks each fragile verdict in the claims table, and only
    those (a stale replication marks nothing)."""
    marked = 0
    for study in STUDIES:
        data, _ = replication.load(ROOT / "results" / study)
        fragile = {r["id"] for r in (data or {}).get("claims", []) if r["fragile"]}
        html = (site / "results" / study / f"{study}.html").read_text(encoding="utf-8")
        table = [
            t
            for t in re.findall(r"<table.*?</table>", html, re.S)
            if re.search(r"<th[^>]*>\s*(<p>)?\s*verdict", t)
        ]
        rows = re.findall(r"<tr.*?</tr>", table[-1], re.S)
        for row in rows[1:]:
            cid = re.sub(r"<[^>]+>", "", re.search(r"<td.*?</td>", row, re.S).group(0)).strip()
            assert ("fragile" in row) == (cid in fragile), (study, cid)
            marked += cid in fragile
    committed = sum(
        r["fragile"]
        for s in STUDIES
        for r in (replication.load(ROOT / "results" / s)[0] or {}).get("claims", [])
    )
    assert marked == committed
    assert site_build.mark_fragile('{"cells": []}', ROOT / "no-such-study") == '{"cells": []}'
