"""Fail if a built page loads a script or stylesheet from another site.

The book must be readable offline: `make book` runs this on book/_build/html.
Links a reader clicks (launch buttons, the repository) are fine; only assets
the page loads by itself (<script src>, <link rel="stylesheet">) count.
"""

import re
import sys
from pathlib import Path

ASSET = re.compile(r'<script[^>]+src="(https?:[^"]+)"|<link[^>]+rel="stylesheet"[^>]+href="(https?:[^"]+)"'
                   r'|<link[^>]+href="(https?:[^"]+)"[^>]+rel="stylesheet"')


def main(root: str) -> int:
    pages = sorted(Path(root).rglob("*.html"))
    if not pages:
        print(f"no HTML pages under {root}: build the book first")
        return 1
    bad = [(p, next(g for g in m.groups() if g)) for p in pages for m in ASSET.finditer(p.read_text())]
    for page, url in bad:
        print(f"{page}: loads {url}")
    verdict = "all assets are local" if not bad else f"{len(bad)} remote assets"
    print(f"checked {len(pages)} pages: {verdict}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "book/_build/html"))
