"""The book's machinery: values the text quotes, and claims the text makes.

A chapter never types a number: it computes it in a cell and `glue`s it under a
name that the prose quotes (`{glue:text}`name``). Words are held to the same
standard: a sentence that states a verdict ("the naive image reaches more
activation", "the correlation is not significant") sits beside a hidden cell
that `claim`s it, so that when a result changes the build fails instead of
leaving a stale sentence. `verdict` glues the words themselves, chosen by the
values, where the text should follow the result rather than fail on it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt


class ClaimFailed(AssertionError):
    """A sentence of the book states something its own results no longer show."""


def glue(name: str, value, display: bool = False) -> None:
    """Record a value (a number, a figure) under `name` for the book's text to quote
    (MyST-NB's glue); where MyST-NB is not installed (running the notebook alone),
    nothing is recorded. A figure is closed afterwards, so that it is shown where the
    text places it and not again under the cell.

    >>> glue("answer", 42)
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        myst_glue = None
    if myst_glue is not None:
        myst_glue(name, value, display=display)
    if isinstance(value, plt.Figure) and not display:
        plt.close(value)


def claim(holds: bool, sentence: str) -> None:
    """Back a sentence of the text with the result it states: raise ClaimFailed unless
    `holds` is true. `sentence` is the sentence, or its verdict, as the reader sees it.

    >>> claim(3 > 2, "the naive image reaches more activation")
    >>> claim(0.2 < 0.05, "rho is significant")
    Traceback (most recent call last):
    ...
    interp_lib.course.book.ClaimFailed: the text says "rho is significant", but the result no longer shows it: rewrite the sentence or fix the cause
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
