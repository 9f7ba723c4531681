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


def cmd_run(args: argparse.Namespace) -> None:
    import torch

    from hw7.experiments import WITH_PREDICTIONS, experiment
    from hw7.sweep import train_many

    torch.set_num_threads(args.threads)
    for name in args.names:
        configs = [c for c in experiment(name) if args.seeds is None or c.seed in args.seeds]
        if not configs:
            raise SystemExit(f"{name}: no run has a seed in {args.seeds}; its seeds are "
                             f"{sorted({c.seed for c in experiment(name)})}")
        records = train_many(configs, max_group=args.max_group, device=args.device,
                             predictions=name in WITH_PREDICTIONS)
        best = max(records, key=lambda r: r["history"]["eval_acc"][-1] or 0)
        print(f"{name}: {len(records)} runs stored; best final accuracy "
              f"{best['history']['eval_acc'][-1]:.4f} (lr {best['config']['lr']:g})")


def cmd_train(args: argparse.Namespace) -> None:
    import torch

    from hw7.config import RunConfig
    from hw7.sweep import train_many

    torch.set_num_threads(args.threads)
    config = RunConfig(sizes=tuple(args.sizes), activation=args.activation, init=args.init,
                       dropout=args.dropout, optimizer=args.optimizer, lr=args.lr,
                       momentum=args.momentum, betas=tuple(args.betas), weight_decay=args.weight_decay,
                       schedule=args.schedule, step_size=args.step_size, gamma=args.gamma,
                       batch_size=args.batch_size, epochs=args.epochs, seed=args.seed,
                       data_seed=args.seed, eval_on=args.eval_on, augment=args.augment)
    record = train_many([config], device=args.device)[0]
    h = record["history"]
    for e, (loss, acc) in enumerate(zip(h["train_loss"], h["eval_acc"])):
        print(f"epoch {e + 1:3d}  train loss {loss if loss is not None else float('nan'):.4f}  "
              f"{config.eval_on} accuracy {acc if acc is not None else float('nan'):.4f}")
    if record["diverged_epoch"] is not None:
        print(f"diverged in epoch {record['diverged_epoch'] + 1} (loss not finite)")
    print(f"stored as results/runs/{record['key']}.json ({record['seconds']:.1f} s)")


def cmd_tune(args: argparse.Namespace) -> None:
    from hw7.tune import main as tune

    tune(args)


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

    p = sub.add_parser("run", help="compute the named experiments' missing runs into results/")
    p.add_argument("names", nargs="+")
    p.add_argument("--threads", type=int, default=1, help="torch threads (one is as fast as two here)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="only these seeds (lets separate processes share an experiment's seeds)")
    p.add_argument("--max-group", type=int, default=16, help="most configs trained as one stacked model")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.set_defaults(func=cmd_run)

    from hw7.config import RunConfig
    d = RunConfig()
    p = sub.add_parser("train", help="train one config (through the run store) and print its accuracy per epoch")
    p.add_argument("--sizes", type=int, nargs="+", default=list(d.sizes))
    p.add_argument("--activation", default=d.activation)
    p.add_argument("--init", default=d.init)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--optimizer", default=d.optimizer)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--momentum", type=float, default=d.momentum)
    p.add_argument("--betas", type=float, nargs=2, default=list(d.betas))
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--schedule", default=d.schedule)
    p.add_argument("--step-size", type=int, default=d.step_size)
    p.add_argument("--gamma", type=float, default=d.gamma)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--eval-on", default=d.eval_on)
    p.add_argument("--augment", default=d.augment)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("tune", help="run or extend an Optuna search (validation split only)")
    p.add_argument("study", help="problem2 or problem3")
    p.add_argument("--trials", type=int, default=20, help="trials to add (0: print the study's progress)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes on this machine, sharing the trials (default 1)")
    p.add_argument("--storage", default=None,
                   help="Optuna storage: a database URL (postgresql://user:pass@host/db) or a journal file; "
                        "default results/optuna/<study>.log")
    p.add_argument("--copy-to", default=None, metavar="STORAGE",
                   help="afterwards copy the study there: a new journal file (e.g. results/optuna/problem2.log) "
                        "or a database URL")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--seed", type=int, default=None, help="sampler seed (default: a fresh one, recorded per trial)")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_tune)

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
