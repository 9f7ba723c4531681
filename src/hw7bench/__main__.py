"""``python -m hw7bench [descent] [training]``: run the named benchmarks (both by default)."""

from __future__ import annotations

import argparse

BENCHMARKS = ("descent", "training")


def parse(argv: list[str] | None = None) -> list[str]:
    """The benchmarks to run, in order: those named in ``argv``, else all of them.

    The names are checked here, not by ``choices``: before Python 3.14 (CPython gh-53834)
    argparse checks an absent ``nargs="*"`` positional's default, a list, against ``choices``
    and rejects it, so ``python -m hw7bench`` with no names would fail on 3.11."""
    parser = argparse.ArgumentParser(prog="python -m hw7bench", description=__doc__)
    parser.add_argument("which", nargs="*", metavar="{descent,training}")
    which = parser.parse_args(argv).which
    unknown = [name for name in which if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(map(repr, unknown))}; choose from {', '.join(BENCHMARKS)}")
    return which or list(BENCHMARKS)


def main(argv: list[str] | None = None) -> None:
    for name in parse(argv):
        if name == "descent":
            from hw7bench.descent import main as descent
            descent()
        else:
            from hw7bench.training import training
            training()


if __name__ == "__main__":
    main()
