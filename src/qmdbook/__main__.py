"""``python -m qmdbook render|report|preview [--root DIR]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None, root: Path | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m qmdbook", description=__doc__)
    parser.add_argument("--root", type=Path, default=root or Path("."),
                        help="the book's folder (with _quarto.yml)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("render", help="render the book without Quarto (nbclient, Pandoc, Typst)")
    p.add_argument("--to", nargs="+", default=["html", "pdf"], choices=["html", "pdf"])
    sub.add_parser("report", help="render the book: Quarto if installed, else `render`")
    p = sub.add_parser("preview", help="quarto preview, else re-render on save and serve")
    p.add_argument("--port", type=int, default=4848)
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            from qmdbook.render import render_book
            render_book(formats=tuple(args.to), root=args.root)
        elif args.command == "report":
            from qmdbook.serve import report
            report(args.root)
        else:
            from qmdbook.serve import preview
            preview(args.root, port=args.port)
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
