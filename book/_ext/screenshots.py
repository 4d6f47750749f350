"""Screenshots of the built book, as a reader sees it, for reviewing pages against their figures.

    python book/_ext/screenshots.py book/_build/html shots/ [--width 1280] [--pages ch00_organism]

Each page is rendered by headless Chromium (Debian's package `chromium`; not needed by
`make book` or CI) at the given width, with its scripts run (MathJax typesets the
formulas), and cut into numbered tiles (`ch00_organism-01.png`, ...) of at most 1600 px,
overlapping by 100 px so that no line is lost at a cut.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

TILE, OVERLAP = 1600, 100
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--virtual-time-budget=15000"]


def shoot(html: Path, out_dir: Path, width: int, chromium: str, max_height: int) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.png"
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--window-size={width},{max_height}",
                        f"--screenshot={full}", html.resolve().as_uri()],
                       capture_output=True, timeout=300, check=True)
        image = Image.open(full).convert("RGB")
        # The theme stretches a short page to the window, footer at the bottom: cut out every
        # long run of empty rows (rows identical to one near the bottom; the very last row is a
        # border line, so "all white" would never match), keeping 60 px of each.
        rows = image.convert("L").tobytes()
        background = rows[(image.height - 20) * width:(image.height - 19) * width]
        keep, run = [], []
        for y in range(image.height):
            if rows[y * width:(y + 1) * width] == background:
                run.append(y)
                continue
            keep += run if len(run) <= 300 else run[:60]
            run = []
            keep.append(y)
        keep += run[:60]
        if len(keep) > 0.98 * image.height:
            print(f"{html.stem}: the page may be taller than --height {max_height}: raise it")
        strip = Image.new("RGB", (width, len(keep)))
        for i, y in enumerate(keep):
            strip.paste(image.crop((0, y, width, y + 1)), (0, i))
        image, bottom = strip, len(keep)
        tiles, top, i = [], 0, 1
        while top < bottom:
            tile = image.crop((0, top, width, min(bottom, top + TILE)))
            path = out_dir / f"{html.stem}-{i:02d}.png"
            tile.save(path)
            tiles.append(path)
            top += TILE - OVERLAP
            i += 1
        return tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=24000, help="the tallest page, in pixels")
    parser.add_argument("--pages", nargs="*", help="page names (default: every chapter and page)")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("headless Chromium is needed: apt-get install chromium")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    pages = sorted(p for p in args.html_dir.glob("*.html")
                   if p.stem not in ("genindex", "search") and
                   (not args.pages or p.stem in args.pages))
    for page in pages:
        tiles = shoot(page, args.out_dir, args.width, chromium, args.height)
        print(f"{page.stem}: {len(tiles)} tiles")


if __name__ == "__main__":
    main()
