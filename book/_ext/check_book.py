"""Checks on the built book (run by `make book` after the build).

- Offline: no page loads a script or stylesheet from another site (links a
  reader clicks are fine).
- Figures: every image in a chapter sits in a figure with a caption and has
  alt text that describes it (not a file name or a hash).
- Outputs: no cell output shows an object's repr (`<... at 0x...>`), a
  traceback, or an unresolved glue reference.
- Style: every page loads the course's stylesheet (exercise boxes readable in
  dark mode, wide tables that scroll instead of being cut off).
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

ASSET = re.compile(r'<script[^>]+src="(https?:[^"]+)"|<link[^>]+rel="stylesheet"[^>]+href="(https?:[^"]+)"'
                   r'|<link[^>]+href="(https?:[^"]+)"[^>]+rel="stylesheet"')
REPR = re.compile(r"(&lt;|<)[\w.]+ (object )?at 0x[0-9a-f]+(&gt;|>)|&lt;torch\._C\.")
REDIRECT = re.compile(r'<meta http-equiv="refresh"', re.I)
HASHY = re.compile(r"^[0-9a-f]{16,}|\.(png|jpg|svg)$", re.I)


class Images(HTMLParser):
    """Collects each <img> with its alt text and whether it sits in a captioned figure."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.images: list[dict] = []
        self.figure_has_caption: list[bool] = []
        self.pending: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self.figure_has_caption.append(False)
            self.pending.append([])
        if tag == "figcaption" and self.figure_has_caption:
            self.figure_has_caption[-1] = True
        if tag == "img":
            img = {"src": attrs.get("src", ""), "alt": (attrs.get("alt") or "").strip(),
                   "in_figure": bool(self.figure_has_caption), "captioned": False}
            self.images.append(img)
            if self.pending:
                self.pending[-1].append(img)

    def handle_endtag(self, tag):
        if tag == "figure" and self.figure_has_caption:
            captioned = self.figure_has_caption.pop()
            for img in self.pending.pop():
                img["captioned"] = captioned


def check_page(page: Path, chapter: bool) -> list[str]:
    text = page.read_text()
    if REDIRECT.search(text):  # a bare redirect (index.html -> intro.html): nothing to read
        return []
    problems = [f"loads {next(g for g in m.groups() if g)}" for m in ASSET.finditer(text)]
    if 'course.css' not in text:
        problems.append("does not load the course stylesheet (_static/course.css)")
    if not chapter:
        return problems
    parser = Images()
    parser.feed(text)
    for img in parser.images:
        if "_static" in img["src"] or "logo" in img["src"]:
            continue
        name = img["src"].rsplit("/", 1)[-1]
        if not img["captioned"]:
            problems.append(f"image {name} is not in a figure with a caption")
        if len(img["alt"]) < 15 or HASHY.search(img["alt"]):
            problems.append(f"image {name} has no descriptive alt text (alt={img['alt']!r})")
    outputs = " ".join(re.findall(r'<div class="cell_output[^"]*">(.*?)</div>\s*</div>', text, re.S))
    for m in REPR.finditer(text):
        problems.append(f"an output shows an object's repr: {m.group(0)}")
    if "Traceback (most recent call last)" in text:
        problems.append("an output shows a traceback")
    if "{glue:" in text or "glue:text" in outputs:
        problems.append("an unresolved glue reference")
    return problems


def main(root: str) -> int:
    # Theme fragments under _static are not pages a reader sees.
    pages = sorted(p for p in Path(root).rglob("*.html") if "_static" not in p.relative_to(root).parts)
    if not pages:
        print(f"no HTML pages under {root}: build the book first")
        return 1
    bad = 0
    for page in pages:
        chapter = page.name.startswith("ch") and page.parent == Path(root)
        for problem in check_page(page, chapter):
            print(f"{page.relative_to(root)}: {problem}")
            bad += 1
    print(f"checked {len(pages)} pages: " + ("all good" if not bad else f"{bad} problems"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "book/_build/html"))
