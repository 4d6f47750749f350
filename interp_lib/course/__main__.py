"""The course's command line: `python -m interp_lib.course COMMAND`.

    grade [--chapter N]     grade your exercises (what `make grade` runs)
    hint EXERCISE [N]       show hint N (default 1) of an exercise
    make-exercises          rewrite exercises/ from solutions/ (course authors: erases answers)
    check                   fail if exercises/ differs from what solutions/ generates (CI)
"""

from __future__ import annotations

import argparse
import sys

from interp_lib.course import exercises, grade


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp_lib.course",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("grade", help="grade your exercises (options: --chapter N, --target DIR)",
                   add_help=False)
    p_hint = sub.add_parser("hint", help="show one hint of an exercise")
    p_hint.add_argument("exercise")
    p_hint.add_argument("n", nargs="?", type=int, default=1)
    sub.add_parser("make-exercises", help="write exercises/ from solutions/ (erases answers)")
    sub.add_parser("check", help="fail if exercises/ is out of sync with solutions/")
    args, rest = parser.parse_known_args(argv)
    if args.command == "grade":
        return grade.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "hint":
        try:
            print(exercises.hint(args.exercise, args.n))
        except (KeyError, ValueError) as e:
            print(str(e).strip('"'))
            return 1
        return 0
    if args.command == "make-exercises":
        changed = exercises.make_exercises()
        print("\n".join(f"wrote {p.relative_to(exercises.REPO_ROOT)}" for p in changed)
              or "up to date")
        return 0
    stale = exercises.out_of_sync()
    for p in stale:
        print(f"out of sync: {p.relative_to(exercises.REPO_ROOT)} (run `make exercises`)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
