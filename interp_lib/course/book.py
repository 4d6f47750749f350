"""The book's machinery: values the text quotes, and claims the text makes.

A chapter never types a number: it computes it in a cell and `glue`s it under a
name that the prose quotes (`{glue:text}`name``). Words are held to the same
standard: a sentence that states a verdict ("the naive image reaches more
activation", "the correlation is not significant") sits beside a hidden cell
that `claim`s it, so that when a result changes the build fails instead of
leaving a stale sentence. `verdict` glues the words themselves, chosen by the
values, where the text should follow the result rather than fail on it.

The same chapter runs in two places: `make book` (which sets INTERP_BOOK_BUILD=1,
and glue records values for the text) and a learner's Jupyter (where glue shows
each figure under its cell and prints each value as `name = value`).
"""

from __future__ import annotations

import io
import os
import sys

import matplotlib.pyplot as plt


class ClaimFailed(AssertionError):
    """A sentence of the book states something its own results no longer show."""


# `make book` sets this for the kernels the build starts; a learner's kernel never has it.
BOOK_BUILD_ENV = "INTERP_BOOK_BUILD"
_told_how_to_read = False


def in_book_build() -> bool:
    """True while `make book` executes the chapters (it sets INTERP_BOOK_BUILD=1).

    >>> os.environ[BOOK_BUILD_ENV] = "1"; in_book_build()
    True
    >>> del os.environ[BOOK_BUILD_ENV]; in_book_build()
    False
    """
    return os.environ.get(BOOK_BUILD_ENV) == "1"


def _live_kernel():
    """The running Jupyter kernel's shell, or None (plain Python, a doctest, a script)."""
    ipython = sys.modules.get("IPython")  # never import IPython where nobody has
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if getattr(shell, "kernel", None) is not None else None


def _show_figure(shell, fig: plt.Figure) -> None:
    """Display a figure once, in the format the kernel is set up for (the inline backend's
    PNG, or SVG after `%config InlineBackend.figure_formats`); a PNG where no image
    formatter is registered (a kernel started with MPLBACKEND=Agg)."""
    from IPython.display import Image, display
    bundle, metadata = shell.display_formatter.format(fig)
    if any(key.startswith("image/") for key in bundle):
        display(bundle, metadata=metadata, raw=True)
    else:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        display(Image(buffer.getvalue(), format="png"))


def glue(name: str, value, display: bool = False) -> None:
    """Record a value (a number, words, a figure) under `name` for the book's text to quote.

    Where the chapter runs decides what happens:

    - the book build (`make book`, which sets INTERP_BOOK_BUILD=1): MyST-NB's glue
      records the value; a figure is closed, so that it appears once, where the text
      places it (`{glue:figure}`), and not again under its cell;
    - a Jupyter kernel (a learner's, `make lab`): a figure is displayed under the cell
      that makes it (once: a figure already shown at the end of an earlier cell is not
      shown again), and a value is printed as `name = value`: the text quotes it as
      {glue:text}`name`, which only the built book fills in;
    - plain Python (a script, a doctest): nothing is shown; a figure is closed.

    >>> glue("answer", 42)
    """
    global _told_how_to_read
    is_figure = isinstance(value, plt.Figure)
    shell = None if in_book_build() else _live_kernel()
    if in_book_build():
        try:
            from myst_nb import glue as myst_glue
        except ImportError:  # the book build installs it; a partial venv still runs
            myst_glue = None
        if myst_glue is not None:
            myst_glue(name, value, display=display)
    elif shell is not None and is_figure:
        # A figure made in an earlier cell was shown (and closed) by the inline backend at
        # that cell's end: showing it again here would show it twice.
        if plt.fignum_exists(value.number):
            _show_figure(shell, value)
    elif shell is not None:
        if not _told_how_to_read:
            print("(In Jupyter the text's {glue:text}`name` stays as it is: each value it quotes "
                  "is printed here as name = value. `make book` writes them into the text.)")
            _told_how_to_read = True
        print(f"{name} = {value}")
    if is_figure and not (display and in_book_build()):
        plt.close(value)


def claim(holds: bool, sentence: str) -> None:
    """Back a sentence of the text with the result it states: raise ClaimFailed unless
    `holds` is true. `sentence` is the sentence, or its verdict, as the reader sees it.

    >>> claim(3 > 2, "the naive image reaches more activation")
    >>> claim(0.2 < 0.05, "rho is significant")
    Traceback (most recent call last):
    ...
    interp_lib.course.book.ClaimFailed: the text says "rho is significant", but the result no longer
    shows it: rewrite the sentence or fix the cause
    """
    if not bool(holds):
        raise ClaimFailed(f'the text says "{sentence}", but the result no longer shows it: '
                          "rewrite the sentence or fix the cause")


def verdict(name: str, holds: bool, if_true: str, if_false: str) -> bool:
    """Glue the words that describe a result, chosen by the result itself; returns `holds`.

    >>> verdict("direction", 0.4 > 0, "rises", "does not rise")
    True
    """
    glue(name, if_true if holds else if_false)
    return bool(holds)


class Table:
    """A small table that shows as HTML in the book and in Jupyter (a real table, not
    monospace text cut off at the page's edge) and as aligned text elsewhere.

    >>> t = Table(["setting", "objective"], [["none", 17.9], ["L1", 18.31]], digits=1)
    >>> print(t)
    setting  objective
    none          17.9
    L1            18.3
    """

    def __init__(self, header, rows, *, digits: int = 2, caption: str | None = None):
        self.header = [str(h) for h in header]
        self.rows = [[self._cell(v, digits) for v in row] for row in rows]
        if any(len(row) != len(self.header) for row in self.rows):
            raise ValueError(f"every row needs {len(self.header)} values, one per column")
        self.caption = caption

    @staticmethod
    def _cell(value, digits: int) -> str:
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    def _repr_html_(self) -> str:
        import html
        numeric = [all(_is_number(row[j]) for row in self.rows) for j in range(len(self.header))]

        def cell(tag: str, text: str, j: int) -> str:
            align = ' style="text-align: right"' if numeric[j] else ""
            return f"<{tag}{align}>{html.escape(text)}</{tag}>"

        head = "".join(cell("th", h, j) for j, h in enumerate(self.header))
        body = "".join("<tr>" + "".join(cell("td", v, j) for j, v in enumerate(row)) + "</tr>"
                       for row in self.rows)
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (f'<table class="course-table">{caption}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")

    def __str__(self) -> str:
        widths = [max(len(self.header[j]), *(len(r[j]) for r in self.rows))
                  for j in range(len(self.header))]
        numeric = [all(_is_number(row[j]) for row in self.rows) for j in range(len(self.header))]

        def line(values) -> str:
            return "  ".join(v.rjust(w) if numeric[j] else v.ljust(w)
                             for j, (v, w) in enumerate(zip(values, widths))).rstrip()
        return "\n".join([line(self.header)] + [line(r) for r in self.rows])

    __repr__ = __str__


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("%x"))
        return True
    except ValueError:
        return False
