"""``python -m deeptrain.explore --write-figures``: regenerate every explorer's static figure.

Writes solutions/<module>/figures/explore_<name>.png for each registered explorer at its
default setting (nbgrader's release copies the figures to course/). ``--list`` prints the
registry; ``--only NAME`` restricts to some explorers.
"""
import argparse
import sys

from . import REGISTRY, draw_static, figure_path, load_all


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m deeptrain.explore", description=__doc__.splitlines()[0])
    parser.add_argument("--write-figures", action="store_true", help="regenerate the static figures")
    parser.add_argument("--list", action="store_true", help="list the registered explorers")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help="only this explorer (repeatable)")
    args = parser.parse_args(argv)
    load_all()
    names = sorted(REGISTRY) if args.only is None else args.only
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown explorer(s) {unknown}; registered: {sorted(REGISTRY)}")
    if args.list or not args.write_figures:
        for name in names:
            print(f"{name}\t{REGISTRY[name][0]}")
        return 0
    for name in names:
        _, draw, controls_factory = REGISTRY[name]
        print(draw_static(draw, controls_factory(), figure_path(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
