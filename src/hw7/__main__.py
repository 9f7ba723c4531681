"""The book's command line: python -m hw7 COMMAND (the Makefile's targets call these commands)."""

from __future__ import annotations

import argparse
import errno
import sys
import textwrap

from hw7 import PROJECT_ROOT

FORMATS = ("html", "pdf")  # what `render` writes
PROBLEM1 = "problem1"  # `run problem1`: Problem 1's stored sweeps (`hw7.rosenbrock.runs`)
CHECKPOINT_MINUTES = 5.0  # how often `run` and `train` save a group's training state (hw7.engine.checkpoint)
DEVICE_HELP = "where to train (auto: cuda if available, else cpu) (default: %(default)s)"
# Faults of the machine rather than of the code, each with its fix: a file or folder this user may not
# write (results/ read-only), a read-only or full disk.
ACCESS = "give this user write access to it, or work in a copy of the project that this user can write"
MACHINE_FAULTS = {errno.EACCES: ACCESS, errno.EPERM: ACCESS, errno.EROFS: ACCESS,
                  errno.ENOSPC: "free space on its disk", errno.EDQUOT: "free space within your disk quota"}


def cmd_data(args: argparse.Namespace) -> None:
    from hw7.data import SOURCE_NAMES, fetch_mnist, load_mnist

    raw, source = fetch_mnist(args.root)
    mnist = load_mnist(args.root)
    print(f"MNIST verified (SHA-256) in {raw} ({SOURCE_NAMES[source]}): "
          f"{len(mnist.train_y)} training and {len(mnist.test_y)} test images (data digest {mnist.sha256}).")


def ensure_data() -> None:
    """Fetch and verify MNIST before any chapter runs, so that a failed fetch is one error, not a failed cell."""
    from hw7.data import SOURCE_NAMES, fetch_mnist

    raw, source = fetch_mnist()
    print(f"MNIST verified (SHA-256) in {raw} ({SOURCE_NAMES[source]})", file=sys.stderr, flush=True)


def cmd_report(args: argparse.Namespace) -> None:
    from qmdbook.serve import report

    ensure_data()
    report(PROJECT_ROOT)


def cmd_render(args: argparse.Namespace) -> None:
    from qmdbook.render import render_book

    ensure_data()
    render_book(formats=tuple(args.to), root=PROJECT_ROOT)


def cmd_preview(args: argparse.Namespace) -> None:
    from qmdbook.serve import preview

    ensure_data()
    preview(PROJECT_ROOT, port=args.port)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--threads 0`` or ``--max-group -1`` is a usage error)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per ``RunConfig`` field (``--weight-decay`` for ``weight_decay``), with its default,
    type, choices and help taken from the field, so the fields are listed once, in `hw7.config`."""
    import dataclasses
    import typing

    from hw7.config import RunConfig

    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        if "help" not in f.metadata:
            continue
        kw = dict(f.metadata)
        hint, flag = hints[f.name], "--" + f.name.replace("_", "-")
        if hint is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is tuple:
            args = typing.get_args(hint)
            kw.update(type=args[0], nargs="+" if args[-1] is Ellipsis else len(args))
        else:
            kw["type"] = hint
        if f.name == "data_seed":  # one --seed fixes both unless asked otherwise
            kw.update(default=None, help=kw["help"] + " (default: --seed)")
        else:
            kw["default"] = f.default
            kw["help"] += " (default: %(default)s)"
        parser.add_argument(flag, **kw)


def config_from_args(args: argparse.Namespace):
    """The ``RunConfig`` the options of ``add_config_options`` describe."""
    import dataclasses

    from hw7.config import ConfigError, RunConfig

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if hasattr(args, f.name)}
    if values.get("data_seed") is None:
        values["data_seed"] = values["seed"]
    try:
        return RunConfig(**values)
    except ConfigError as exc:  # name the option, as argparse does
        raise ValueError(f"argument --{exc.field.replace('_', '-')}: {exc}") from None


def cmd_run(args: argparse.Namespace) -> None:
    import torch

    from hw7.engine.trainer import resolve_device
    from hw7.results.backfill import add_probabilities
    from hw7.results.experiments import WITH_PREDICTIONS, WITH_PROBABILITIES, experiment
    from hw7.results.sweep import train_many

    if PROBLEM1 in args.names:  # not a training run: Problem 1's sweeps, numpy only, about 10 s
        from hw7.rosenbrock import runs as rosenbrock_runs

        print(f"{PROBLEM1}: stored in {rosenbrock_runs.save(rosenbrock_runs.compute())}")
        args.names = [n for n in args.names if n != PROBLEM1]
    resolve_device(args.device)
    torch.set_num_threads(args.threads)
    refused = [name for name in args.names if args.add_probabilities and name not in WITH_PROBABILITIES]
    if refused:
        raise ValueError(f"--add-probabilities: {', '.join(refused)} keeps no probabilities; those that do: "
                         f"{', '.join(sorted(WITH_PROBABILITIES))}")
    for name in args.names:
        every = experiment(name)
        configs = [c for c in every if args.seeds is None or c.seed in args.seeds]
        if not configs:
            raise SystemExit(f"{name}: no run has a seed in {args.seeds}; its seeds are "
                             f"{sorted({c.seed for c in every})}")
        records = train_many(configs, max_group=args.max_group, device=args.device, universe=every,
                             predictions=name in WITH_PREDICTIONS, probabilities=name in WITH_PROBABILITIES,
                             checkpoint_every=60 * args.checkpoint_minutes)
        best = max(records, key=lambda r: r["history"]["eval_acc"][-1] or 0)
        print(f"{name}: {len(records)} runs stored; best final accuracy "
              f"{best['history']['eval_acc'][-1]:.4f} (lr {best['config']['lr']:g})")
        if args.add_probabilities:
            added = add_probabilities(configs)
            print(f"{name}: probabilities added to {len(added)} records; "
                  f"{len(configs) - len(added)} of {len(configs)} had them already")


def cmd_train(args: argparse.Namespace) -> None:
    import torch

    from hw7.engine.trainer import resolve_device
    from hw7.results import store
    from hw7.results.experiments import WITH_PREDICTIONS, WITH_PROBABILITIES, experiment, experiment_of
    from hw7.results.sweep import train_many

    config = config_from_args(args)
    resolve_device(args.device)
    torch.set_num_threads(args.threads)
    stored = store.path_of(config).is_file()  # then train_many loads it instead of training
    name = experiment_of(config)  # a config of a stored experiment is trained in that experiment's group
    record = train_many([config], device=args.device, universe=experiment(name) if name else None,
                        predictions=name in WITH_PREDICTIONS, probabilities=name in WITH_PROBABILITIES,
                        checkpoint_every=60 * args.checkpoint_minutes)[0]
    h = record["history"]
    for e, (loss, acc) in enumerate(zip(h["train_loss"], h["eval_acc"])):
        print(f"epoch {e + 1:3d}  train loss {loss if loss is not None else float('nan'):.4f}  "
              f"{config.eval_on} accuracy {acc if acc is not None else float('nan'):.4f}")
    if record["diverged_epoch"] is not None:
        print(f"diverged in epoch {record['diverged_epoch'] + 1} (loss not finite)")
    where = f"results/runs/{record['key']}.json"
    if stored:
        print(f"loaded from {where}, not trained again: it was trained on {record['finished']} "
              f"in {record['seconds']:.1f} s")
    else:
        print(f"trained in {record['seconds']:.1f} s, stored as {where}")


def cmd_check(args: argparse.Namespace) -> None:
    from hw7.results.check import check

    report = check(reproduce_runs=args.reproduce)
    compared = report.reproduced + report.tolerated
    print(f"{report.records} run records, {report.journals} Optuna journals checked"
          + (f"; of {report.records} records ({report.groups} groups) {compared} reproduce their first epoch: "
             f"{report.reproduced} bitwise (computed on this CPU with these libraries), {report.tolerated} within "
             "tolerance (computed on " + (", ".join(sorted(report.elsewhere)) or "another CPU")
             + f"; largest difference {report.worst:.2f} of its tolerance)" if args.reproduce else "")
          + f"; {len(report.faults)} faults ({report.seconds:.1f} s)")
    if report.faults:
        sys.exit(1)


def cmd_tune(args: argparse.Namespace) -> None:
    from hw7.results.tune import main as tune

    tune(args)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m hw7``: one subcommand per ``cmd_*`` function."""
    from hw7.config import DEVICES
    from hw7.results.experiments import EXPERIMENTS

    parser = argparse.ArgumentParser(prog="python -m hw7", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="fetch/verify MNIST and print where it is")
    p.add_argument("--root", default=None, help="data folder (default: $HW7_DATA or data/)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("report", help="render the book: Quarto if installed, else the render command")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("render", help="render the book without Quarto (jupyter-cache, Pandoc, Typst)")
    p.add_argument("--to", nargs="+", default=list(FORMATS), choices=FORMATS,
                   help=f"formats to write (default: {' '.join(FORMATS)})")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("preview", help="quarto preview, else re-render on save and serve _book/")
    p.add_argument("--port", type=int, default=4848, help="port of the local web server (default: %(default)s)")
    p.set_defaults(func=cmd_preview)

    names = textwrap.fill(", ".join([PROBLEM1, *EXPERIMENTS]), 76, break_on_hyphens=False, initial_indent="  ",
                          subsequent_indent="  ")
    p = sub.add_parser("run", help="compute the named experiments' missing runs into results/",
                       description=textwrap.fill("Compute the named experiments' missing runs into results/runs/ (problem1: "
                                   "Problem 1's optimizer sweeps into results/problem1.npz). A narrow network's "
                                   "missing run (compiled epoch) is trained alone or stacked with the other missing "
                                   "runs, never with its stored group-mates, while a wider network's is re-trained "
                                   "with its whole stored group; off a terminal each finished group prints one line.", 79),
                       epilog=f"experiments:\n{names}", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+", choices=[PROBLEM1, *EXPERIMENTS], metavar="NAME",
                   help="experiments to run (listed below)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads, stored in the record (a bitwise rerun needs the same count); "
                        "two speed up only the wide networks, about 1.5x here (default: %(default)s)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="only these seeds (lets separate processes share an experiment's seeds)")
    p.add_argument("--max-group", type=positive_int, default=16,
                   help="most configs trained as one stacked model (a wide network's stored groups keep their size) "
                        "(default: %(default)s)")
    p.add_argument("--device", default="cpu", choices=DEVICES, help=DEVICE_HELP)
    p.add_argument("--checkpoint-minutes", type=float, default=CHECKPOINT_MINUTES,
                   help="save a group's training state this often (results/checkpoints/; resumed by the next run)")
    p.add_argument("--add-probabilities", action="store_true",
                   help="then give stored records that lack them their softmax probabilities: re-train each "
                        "such group as stored (its device and threads) and add them only if bitwise as stored")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="train one config (through the run store) and print its accuracy per epoch")
    add_config_options(p)
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads, stored in the record (a bitwise rerun needs the same count) "
                        "(default: %(default)s)")
    p.add_argument("--device", default="cpu", choices=DEVICES, help=DEVICE_HELP)
    p.add_argument("--checkpoint-minutes", type=float, default=CHECKPOINT_MINUTES,
                   help="save the training state this often (results/checkpoints/; resumed by the next call)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("check", help="validate every stored run and Optuna journal (exit 1 on any fault)")
    p.add_argument("--reproduce", action="store_true",
                   help="also re-train the first epoch of every stored group and compare: bitwise if computed on this "
                        "CPU with these libraries, else within a tolerance from the seed-to-seed spread")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("tune", help="run or extend an Optuna search (validation split only)")
    p.add_argument("study", help="problem2 or problem3")
    p.add_argument("--trials", type=int, required=True,
                   help="trials to add, required: each trains a network for 10 to 30 epochs; "
                        "0 prints the study's progress and runs nothing")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes on this machine, sharing the trials (default: %(default)s)")
    p.add_argument("--storage", default=None,
                   help="Optuna storage: a database URL (postgresql://user:pass@host/db) or a journal file; "
                        "default results/optuna/<study>.log")
    p.add_argument("--copy-to", default=None, metavar="STORAGE",
                   help="afterwards copy the study there: a new journal file (e.g. results/optuna/problem2.log) "
                        "or a database URL")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--seed", type=int, default=None, help="sampler seed (default: a fresh one, recorded per trial)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads per worker (default: %(default)s)")
    p.set_defaults(func=cmd_tune)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run the command; its errors, Ctrl-C included, end it with one line and a non-zero status."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:
        if exc.errno not in MACHINE_FAULTS:
            raise
        sys.exit(f"error: {exc.filename or 'a file'}: {exc.strerror}; fix: {MACHINE_FAULTS[exc.errno]}")
    except Exception as exc:
        from hw7.data import DataError
        if isinstance(exc, (DataError, ValueError)):
            sys.exit(f"error: {exc}")
        raise


if __name__ == "__main__":
    main()
