"""``python -m hw7bench [descent] [training]``: run the named benchmarks (both by default)."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hw7bench", description=__doc__)
    parser.add_argument("which", nargs="*", choices=["descent", "training"], default=["descent", "training"])
    for name in parser.parse_args(argv).which:
        if name == "descent":
            from hw7bench.descent import main as descent
            descent()
        else:
            from hw7bench.training import training
            training()


if __name__ == "__main__":
    main()
