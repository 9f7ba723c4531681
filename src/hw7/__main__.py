"""Command line: ``python -m hw7 <command>``; the Makefile's targets call these."""

from __future__ import annotations

import argparse
import sys


def cmd_data(args: argparse.Namespace) -> None:
    from hw7.data import ensure_mnist, load_mnist

    raw = ensure_mnist(args.root)
    mnist = load_mnist(args.root)
    print(f"MNIST verified (SHA-256) in {raw}: "
          f"{len(mnist.train_y)} training and {len(mnist.test_y)} test images.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hw7", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="fetch/verify MNIST and print where it is")
    p.add_argument("--root", default=None, help="data folder (default: $HW7_DATA or data/)")
    p.set_defaults(func=cmd_data)

    args = parser.parse_args(argv)
    try:
        args.func(args)
    except Exception as exc:
        from hw7.data import DataError
        if isinstance(exc, (DataError, ValueError)):
            sys.exit(f"error: {exc}")
        raise


if __name__ == "__main__":
    main()
