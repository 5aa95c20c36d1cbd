"""Math rendered when the site is built, as MathML (latex2mathml, pinned): no MathJax, nothing fetched by the reader's
browser. Registered as Sphinx's HTML math renderer ``mathml`` (``html_math_renderer`` in conf.py)."""

from __future__ import annotations

from docutils import nodes
from latex2mathml.converter import convert


def _mathml(latex: str, display: str) -> str:
    return convert(latex.strip(), display=display)


def visit_math(self, node) -> None:
    self.body.append(f'<span class="math mathml">{_mathml(node.astext(), "inline")}</span>')
    raise nodes.SkipNode


def visit_displaymath(self, node) -> None:
    if node.get("label"):
        self.body.append(f'<span class="eqno">({node["number"]})</span>')
    self.body.append(f'<div class="math mathml">{_mathml(node.astext(), "block")}</div>')
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", (visit_math, None), (visit_displaymath, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
