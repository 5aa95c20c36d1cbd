"""Git clean filter for notebooks/: a notebook's JSON on stdin, the same notebook without outputs on stdout.

    git config filter.nbclean.clean "python3 tools/nbclean.py"     # once per clone: `make hooks`

.gitattributes applies the filter to notebooks/*.ipynb, so what git stores (and diffs) is the notebook without
outputs, execution counts or per-run cell metadata, whatever a "Run All" left in the working copy. Everything
else, cell tags included (``solution``, ``check``, ``parameters``), is kept. The output is written the
way nbformat writes a notebook (one-space indent), with non-ASCII characters escaped and a final newline only where
the input has them, so a notebook that is already clean comes out byte-identical. Standard library only: the filter
runs with any python3, inside the venv or not.
"""

from __future__ import annotations

import json
import sys

RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
"""Cell metadata a run or a front end adds (timings, folded outputs): dropped."""


def clean(nb: dict) -> dict:
    """``nb`` (nbformat 4 JSON) without outputs, execution counts or per-run cell metadata."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in RUN_METADATA:
            meta.pop(key, None)
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def dumps(nb: dict, like: str = "\n") -> str:
    """As nbformat writes, in the style of the text ``like``: non-ASCII characters escaped if ``like`` is all
    ASCII, a final newline if ``like`` ends with one."""
    return json.dumps(nb, indent=1, ensure_ascii=like.isascii()) + ("\n" if like.endswith("\n") else "")


def main() -> None:
    text = sys.stdin.buffer.read().decode("utf-8")
    try:
        nb = json.loads(text)
    except json.JSONDecodeError:  # not a notebook (a merge in progress): store it as it is
        sys.stdout.buffer.write(text.encode("utf-8"))
        return
    sys.stdout.buffer.write(dumps(clean(nb), like=text).encode("utf-8"))


if __name__ == "__main__":
    main()
