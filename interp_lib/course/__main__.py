"""The course's command line: `python -m interp_lib.course COMMAND`.

    grade [--chapter N | --exercise NAME]   grade your exercises (what `make grade` runs)
    hint EXERCISE [N]       show hint N (default 1) of an exercise
    make-exercises [--force]  rewrite exercises/ from solutions/ (course authors); a file
                            that holds answers is kept, unless --force (then backed up)
    check                   fail if exercises/ differs from what solutions/ generates (CI)
"""

from __future__ import annotations

import argparse
import sys

from interp_lib.course import exercises, grade

HINT_USAGE = "usage: make hint EX=<exercise name> [N=1]   (for example: make hint EX=channel_means N=1)"


def _hint(name: str | None, n: str) -> int:
    """Print one hint, or a usage line; a mistake in the arguments is not an error (exit 0),
    an unknown exercise is (exit 1, with the names it might be)."""
    if not name:
        print(HINT_USAGE)
        by_chapter = {m: [e.name for e in exercises.exercises_of(m)] for m in exercises.chapter_modules()}
        print("\n".join(f"  {m}: {', '.join(names)}" for m, names in by_chapter.items()))
        return 0
    try:
        _, ex = exercises.find_exercise(name)
    except KeyError as e:
        print(str(e).strip('"'))
        return 1
    count = len(ex.hints)
    if not n.isdigit() or not 1 <= int(n) <= max(count, 1):
        print(f"{name} has {count} hint{'s' if count != 1 else ''}: N is 1 to {count}, not {n!r}.")
        print(HINT_USAGE)
        return 0
    print(exercises.hint(name, int(n)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp_lib.course",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("grade", help="grade your exercises (options: --chapter N, --exercise NAME, "
                   "--target DIR)", add_help=False)
    p_hint = sub.add_parser("hint", help="show one hint of an exercise")
    p_hint.add_argument("exercise", nargs="?")
    p_hint.add_argument("n", nargs="?", default="1")
    p_make = sub.add_parser("make-exercises", help="write exercises/ from solutions/")
    p_make.add_argument("--force", action="store_true",
                        help="also overwrite files that hold answers (copied to .exercises_backup/ first)")
    sub.add_parser("check", help="fail if exercises/ is out of sync with solutions/")
    args, rest = parser.parse_known_args(argv)
    if args.command == "grade":
        return grade.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "hint":
        return _hint(args.exercise, args.n)
    if args.command == "make-exercises":
        return _make_exercises(args.force)
    stale = exercises.out_of_sync()
    for p in stale:
        print(f"out of sync: {p.relative_to(exercises.REPO_ROOT)} (run `make exercises`)")
    return 1 if stale else 0


def _make_exercises(force: bool) -> int:
    """Regenerate what holds no answers; say what was kept, and how to overwrite it. Keeping
    answers is the command working as meant, not an error (exit 0)."""
    done = exercises.make_exercises(force=force)
    rel = lambda p: p.relative_to(exercises.REPO_ROOT)
    for p in done.written:
        print(f"wrote {rel(p)}")
    if done.backup is not None:
        print(f"your previous files are in {rel(done.backup)}/")
    for p, work in done.kept.items():
        print(f"kept {rel(p)}: it holds your answers ({', '.join(work)})")
    if done.kept:
        print("`make exercises FORCE=1` overwrites them with fresh stubs, after copying them "
              "to .exercises_backup/.")
    elif not done.written:
        print("up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
