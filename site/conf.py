"""Sphinx configuration of the static site (sources staged by site/build.py; nothing is executed)."""

project = "mtlkit"
author = "mtlkit contributors"
copyright = "mtlkit contributors"

extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

nb_execution_mode = "off"  # the site shows the committed runs; it never executes a notebook
nb_render_markdown_format = "myst"  # claims and protocol tables are Markdown outputs: render them as tables
nb_merge_streams = True

html_theme = "furo"
html_title = "mtlkit: studies of multi-task learning"
html_copy_source = False
html_show_sourcelink = False
html_css_files = ["site.css"]
html_static_path = ["_static"]

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# ---- the reader's site (site/reading.py stages the pages): math as MathML when built (site/mathml.py; nothing
# fetched at reading time), figures open full size on click (_static/figures.js), and the one repository URL that
# the "open in Colab / Binder" and source-file links are built from.
sys.path.insert(0, str(Path(__file__).resolve().parent))
extensions.append("mathml")
html_math_renderer = "mathml"
html_js_files = ["figures.js"]
REPOSITORY = "https://github.com/mtlkit/mtlkit"
BRANCH = "main"

# ---- the API reference (docs/api.md): autodoc imports mtlkit from this checkout. No warning is suppressed: every
# documented docstring builds cleanly (tests/test_api_docs.py builds the page with -W).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
extensions += ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
