"""The static site (`make site`): it builds from the committed runs without executing them, every page, link and
image resolves, claims tables are tables, and a real browser (Debian's chromium) renders the figures and reads the
pages as a reader would: the landing page's studies and verdicts in one screen, study pages with their code folded
away, math rendered, figures legible or a click away at full size."""

import base64
import functools
import http.server
import importlib.util
import json
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
reading = site_build.reading


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
    guide = [f"{stem}.html" for stem, _, _ in reading.GUIDE]
    return ["index.html", *guide, *docs, *(f"results/{s}/{s}.html" for s in STUDIES)]


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
    assert claims_table(html), "the claims table did not render as an HTML table with verdict badges"


def claims_table(html: str) -> str | None:
    """The page's claims table: the one whose verdicts are badges (other tables may have a verdict column, such as
    study 05's verdicts at an earlier threshold)."""
    badge = r'<td><span class="verdict verdict-\w+">(reproduced|contradicted|absent|inconclusive)<'
    tables = re.findall(r"<table.*?</table>", html, re.S)
    found = [t for t in tables if re.search(r"<th[^>]*>\s*(<p>)?\s*verdict", t) and re.search(badge, t)]
    return found[0] if found else None


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
               c => (c.querySelector(".cell_input")?.textContent || "").includes('"' + arguments[0] + '")'));
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
        rows = re.findall(r"<tr.*?</tr>", claims_table(html), re.S)
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


def test_a_stale_or_missing_replication_marks_nothing_fragile(tmp_path):
    study = next(s for s in STUDIES if "⚠ fragile" in reading.claims_html(ROOT / "results" / s))
    (tmp_path / "claims.json").write_bytes((ROOT / "results" / study / "claims.json").read_bytes())
    assert "⚠ fragile" not in reading.claims_html(tmp_path)
    assert reading.counts(tmp_path)["fragile"] == 0


def test_claims_tables_clip_intervals_to_the_statistics_support_and_round_each_row_once():
    assert reading.clip(-1.012, -0.964, [-1, 1]) == (-1, -0.964)
    assert reading.clip(-3.0, 2.0, [None, None]) == (-3.0, 2.0)
    row = {"estimate": 0.0019, "low": -0.07028, "high": 0.0741, "level": 0.95}
    assert reading.interval(row) == "+0.002<br><small>95% [\u22120.070, +0.074]</small>"
    for study in STUDIES:
        for c in json.loads((ROOT / "results" / study / "claims.json").read_text())["claims"]:
            lo, hi = (
                float(x.replace("\u2212", "-"))
                for x in re.search(r"\[(.*), (.*)\]", reading.interval(c)).groups()
            )
            support = c.get("support") or [None, None]
            assert support[0] is None or lo >= support[0], (study, c["id"])
            assert support[1] is None or hi <= support[1], (study, c["id"])


def test_verdict_counts_come_from_the_committed_claims_and_replications():
    for study in STUDIES:
        folder = ROOT / "results" / study
        claims = json.loads((folder / "claims.json").read_text())["claims"]
        n = reading.counts(folder)
        assert sum(n[v] for v in reading.VERDICTS) == len(claims)
        data, _ = replication.load(folder)
        assert n["fragile"] == sum(r["fragile"] for r in (data or {"claims": []})["claims"])


def test_internal_issue_numbers_are_reworded_and_named_files_linked(site):
    for page in expected_pages():
        text = re.sub(r"<[^>]+>", "", (site / page).read_text(encoding="utf-8"))
        assert not re.search(r"\b[Ii]ssues? #?\d+\b", text), page
    assert (
        reading.deissue("measured against the code before issue 21")
        == "measured against the code in earlier versions"
    )
    linked = reading.readable("see `mtlkit/weighting.py` and `docs/teaching.md`", "docs")
    assert f"({reading.REPOSITORY}/blob/{reading.BRANCH}/mtlkit/weighting.py)" in linked
    assert "[`docs/teaching.md`](teaching.md)" in linked.replace("../docs/", "")


# ---- the browser, as a reader ------------------------------------------------------------------------------------

ARTICLE = r"""
const visible = (el) => el.checkVisibility() && el.getClientRects().length > 0;
const cells = [...document.querySelectorAll("div.cell")];
const isParameters = (c) => /^# Parameters\b/m.test(c.querySelector(".cell_input")?.textContent || "");
const claims = [...document.querySelectorAll("table")].find(t => [...t.querySelectorAll("th")].some(h => h.textContent.trim() == "verdict"));
return {
    text: document.querySelector("article").innerText,
    visibleInputs: [...document.querySelectorAll(".cell_input")].filter(visible).length,
    toggles: document.querySelectorAll("details.above-input").length,
    parameterCells: cells.filter(isParameters).length,
    visibleParameterCells: cells.filter(c => isParameters(c) && visible(c.querySelector(".cell_input"))).length,
    figures: [...document.querySelectorAll("article img")].map(i => ({
        src: i.src, width: i.naturalWidth, shown: i.getBoundingClientRect().width, link: i.closest("a")?.href || null})),
    claimsHeader: claims ? [...claims.querySelectorAll("th")].map(h => h.textContent.trim()) : [],
    downloads: [...document.querySelectorAll("a.download")].map(a => a.textContent.trim()),
    external: [...document.querySelectorAll("a.external")].map(a => a.href),
};
"""
RAW_TEX = re.compile(
    r"\\(frac|to|theta|sum|cdot|approx|mathrm|left|right)\b|\$\$|\\\[|\\\(|\$[^$\s][^$\n]{0,60}\$"
)


@pytest.mark.parametrize("study", STUDIES)
def test_browser_reads_a_study_page_as_an_article(browser, served, tmp_path, study):
    images = load(browser, f"{served}/results/{study}/{study}.html")
    assert_rendered(images)
    page = browser.execute_script(ARTICLE)
    assert not RAW_TEX.search(page["text"]), RAW_TEX.search(page["text"]).group(0)
    assert page["visibleInputs"] == 0 and page["toggles"] > 0, "code is not folded away behind a toggle"
    assert page["parameterCells"] <= 1 and page["visibleParameterCells"] <= 1
    for f in page["figures"]:
        assert f["shown"] >= 0.5 * f["width"] or f["link"] == f["src"], f"{f['src']} is shrunk and not linked"
    assert {"verdict", "replication", "fragile", "δ"} <= set(page["claimsHeader"]), page["claimsHeader"]
    assert f"{study}.ipynb" in page["downloads"][0] or "notebook" in page["downloads"][0]
    assert "claims.json" in page["downloads"]
    assert any("colab.research.google.com" in u for u in page["external"])
    assert any("mybinder.org" in u for u in page["external"])
    screenshot(browser, study, tmp_path)


def test_browser_shows_math_rendered_without_a_download(browser, served):
    load(browser, f"{served}/results/04_transference/04_transference.html")
    assert browser.execute_script("return document.querySelectorAll('article math').length") >= 2
    assert not browser.execute_script("return [...document.scripts].some(s => /mathjax/i.test(s.src))")


def test_browser_opens_a_figure_full_size_on_click(browser, served):
    load(browser, f"{served}/results/05_grouping_methods/05_grouping_methods.html")
    big = browser.execute_script(
        """const img = [...document.querySelectorAll(".cell_output img")].sort((a, b) => b.naturalWidth - a.naturalWidth)[0];
           img.scrollIntoView({block: "center", behavior: "instant"});
           img.click();
           const shown = document.querySelector(".zoom-box img");
           return shown && {natural: img.naturalWidth, shown: shown.getBoundingClientRect().width};"""
    )
    assert big and big["shown"] >= big["natural"] * 0.99, big
    browser.execute_script("document.querySelector('.zoom-box').click()")
    assert browser.execute_script("return document.querySelector('.zoom-box')") is None


def test_browser_shows_every_study_and_its_verdicts_in_one_screen(browser, served, tmp_path):
    browser.set_window_size(1366, 900)
    try:
        load(browser, f"{served}/index.html")
        rows = browser.execute_script(
            """return {height: window.innerHeight, rows: [...document.querySelectorAll(".studies tbody tr")].map(r => ({
                text: r.innerText, bottom: r.getBoundingClientRect().bottom, links: [...r.querySelectorAll("a")].map(a => a.href)}))};"""
        )
        screenshot(browser, "index-screen", tmp_path)
    finally:
        browser.set_window_size(1400, 1800)
    assert len(rows["rows"]) == len(STUDIES)
    for study, row in zip(STUDIES, rows["rows"]):
        assert row["bottom"] <= rows["height"], f"{study}'s row is below the first screen"
        assert any(u.endswith(f"results/{study}/{study}.html") for u in row["links"])
        n = reading.counts(ROOT / "results" / study)
        for verdict in (*reading.VERDICTS, "fragile"):
            assert (f"{n[verdict]} {verdict}" in row["text"]) == (n[verdict] > 0), (
                study,
                verdict,
                row["text"],
            )
