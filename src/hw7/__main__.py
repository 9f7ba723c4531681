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


def cmd_report(args: argparse.Namespace) -> None:
    from hw7.render import report

    report()


def cmd_render(args: argparse.Namespace) -> None:
    from hw7.render import render_book

    render_book(formats=tuple(args.to))


def cmd_preview(args: argparse.Namespace) -> None:
    from hw7.render import preview

    preview(port=args.port)


def cmd_bench(args: argparse.Namespace) -> None:
    from hw7.bench import main as bench

    bench(args.which)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hw7", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="fetch/verify MNIST and print where it is")
    p.add_argument("--root", default=None, help="data folder (default: $HW7_DATA or data/)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("report", help="render the book: Quarto if installed, else `render`")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("render", help="render the book without Quarto (jupyter-cache, Pandoc, Typst)")
    p.add_argument("--to", nargs="+", default=["html", "pdf"], choices=["html", "pdf"])
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("preview", help="quarto preview, else re-render on save and serve _book/")
    p.add_argument("--port", type=int, default=4848)
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("bench", help="speed benchmarks, printed as ratios")
    p.add_argument("which", nargs="*", default=["descent", "training"])
    p.set_defaults(func=cmd_bench)

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
