"""The report's text: results not targets, no organisational leaks, chapters that only read
findings, citations that resolve, tables and inline values in the one number format.

The chapters are parsed here with a few regular expressions (cells, options, inline
expressions), independently of any render path.
"""

import re
from pathlib import Path

import pytest
import yaml
from IPython.display import Markdown

from hw7 import PROJECT_ROOT

ROOT = PROJECT_ROOT
CELL = re.compile(r"^```\{python\}\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`\{python\} ([^`]+)`")
CODE_SPAN = re.compile(r"`[^`\n]+`")
RAW = re.compile(r"\b(xavier_normal|kaiming_uniform|kaiming_normal|sgd|adam|relu|adam_lr|sgd_lr|batch_size|"
                 r"weight_decay)\b|\d(?:\.\d+)?e[-+]?\d+")
NO_TARGETS = re.compile(r"\bgoals?\b|\btargets?\b|missed by|\d\s*[≥≤]\s*\d|[≥≤]\s*0\.\d")
LEAKS = re.compile(r"journal|sharing the|between sessions|\bsessions?\b|was stopped|resum|\bminutes\b", re.I)


def book_files() -> list[Path]:
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))["book"]
    return [ROOT / f for f in config["chapters"] + config.get("appendices", [])]


PROBLEMS = sorted((ROOT / "problems").glob("*.qmd"))


def cells(path: Path) -> list[tuple[dict, str]]:
    """(options, code) of every Python cell."""
    out = []
    for body in CELL.findall(path.read_text(encoding="utf-8")):
        options = dict(re.findall(r"^#\| ([\w-]+): (.*)$", body, re.M))
        code = "\n".join(line for line in body.splitlines() if not line.startswith("#|"))
        out.append((options, code))
    return out


def prose(path: Path) -> str:
    """The text a reader sees, without code cells and inline expressions (captions included)."""
    text = path.read_text(encoding="utf-8")
    captions = " ".join(re.findall(r"^#\| (?:fig-cap|fig-alt|tbl-cap): (.*)$", text, re.M))
    return INLINE.sub("", CELL.sub("", text)) + "\n" + captions


@pytest.mark.parametrize("path", book_files(), ids=lambda p: p.name)
def test_results_are_stated_without_targets(path):
    """The assignment sets no targets: no "goal", no ≥ checks of a result against a threshold."""
    found = NO_TARGETS.search(prose(path))
    assert not found, f"{path.name}: {found.group()!r}"


def test_no_target_wording_in_the_report_code():
    modules = sorted((ROOT / "src" / "hw7" / "report").rglob("*.py"))
    assert len(modules) > 10
    for path in modules:
        assert not re.search(r"\bgoal|≥ \{", path.read_text(encoding="utf-8")), path.name


@pytest.mark.parametrize("path", [ROOT / "index.qmd", *PROBLEMS], ids=lambda p: p.name)
def test_chapters_do_not_tell_how_the_work_was_organised(path):
    """Compute facts belong to the appendix; how work was scheduled belongs nowhere."""
    text = prose(path) + " ".join(INLINE.findall(path.read_text(encoding="utf-8")))
    found = LEAKS.search(text)
    assert not found, f"{path.name}: {found.group()!r}"


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.name)
def test_chapters_read_their_findings_and_do_no_wrangling(path):
    n = int(path.name[0])
    setup = [code for options, code in cells(path) if options.get("include") == "false"]
    assert f"problem{n}()" in setup[0] and f"from hw7.report.findings.problem{n} import problem{n}" in setup[0]
    for code in setup:
        assert len(code.strip().splitlines()) <= 8, f"{path.name}: a set-up cell of {len(code.splitlines())} lines"
    for _, code in cells(path):
        wrangling = re.search(r"\.(loc|iloc)\[|\.groupby\(|\.set_index\(|\.replace\(|\.rename\(|\bpd\.|"
                              r"import pandas|\.idxmax\(|\.idxmin\(", code)
        assert not wrangling, f"{path.name}: {wrangling.group()!r} in a cell"
    for expr in INLINE.findall(path.read_text(encoding="utf-8")):
        assert not re.search(r"\.(loc|iloc)\[|\.replace\(|\.split\(", expr), f"{path.name}: {expr}"


def test_every_citation_is_in_the_bibliography():
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, re.M))
    cited = set()
    for path in book_files():
        text = CODE_SPAN.sub("", CELL.sub("", path.read_text(encoding="utf-8")))
        cited |= {k for k in re.findall(r"(?<![\w.@])@([A-Za-z][\w:-]*\w)", text)
                  if not k.startswith(("fig-", "tbl-", "sec-"))}
    from hw7.report.literature import PUBLISHED

    cited |= {p.key for p in PUBLISHED}
    assert {"simard2003", "srivastava2014", "goodfellow2013", "ciresan2010", "kingma2015"} <= cited
    assert cited <= keys, f"not in references.bib: {sorted(cited - keys)}"


def test_listing_is_the_source():
    import inspect

    from hw7.report.listings import listing
    from hw7.rosenbrock import descent

    text = listing("hw7.rosenbrock.descent", "gd", "adams")
    assert inspect.getsource(descent.adams).strip() in text
    assert text.count("```python\n") == 2 and "`src/hw7/rosenbrock/descent.py`, lines" in text
    first, last = map(int, re.search(r"lines (\d+)–(\d+)", text).groups())  # the first block's: gd
    lines, start = inspect.getsourcelines(descent.gd)
    assert (first, last) == (start, start + len(lines) - 1)
    method = listing("hw7.engine.nets", "Network.forward")
    assert method.split("```python\n")[1].startswith("def forward(")
    with pytest.raises(ValueError, match="no function or class 'nonesuch'"):
        listing("hw7.rosenbrock.descent", "nonesuch")


def test_c_listing_is_the_kernel_source():
    from hw7.engine import epoch_kernel
    from hw7.report.listings import c_listing

    text = c_listing("src/hw7/engine/epoch_kernel.c", "update")
    body = text.split("```c\n")[1].split("\n```")[0]
    assert body in epoch_kernel.SOURCE and body.startswith("/* torch.optim.SGD / Adam")
    assert body.rstrip().endswith("}") and body.count("static inline void update(") == 1
    with pytest.raises(ValueError, match="no C function 'nonesuch'"):
        c_listing("src/hw7/engine/epoch_kernel.c", "nonesuch")


@pytest.fixture(scope="module")
def tables(mnist):
    from hw7.report import frames as S, headline, literature, rosenbrock_figures as p1, tables as T
    from hw7.report.findings.problem1 import problem1
    from hw7.report.findings.problem2 import problem2
    from hw7.report.findings.problem3 import problem3

    P1, P2, P3 = problem1(), problem2(), problem3()
    sgd, adam = S.by(S.runs("p2-sgd")), S.by(S.runs("p2-adam"))
    return {
        "headline": headline.headline_table(), "typo": p1.typo_table(P1.printed_ends),
        "summary": p1.summary_table([*P1.b.values(), *P1.c.values()]), "lr": p1.lr_table(P1.lr_map),
        "eps": p1.eps_table(), "rates": T.rate_table({"SGD": sgd, "ADAM": adam}),
        "ratio": T.ratio_table({"sigmoid": S.runs("p3-sigmoid"), "ReLU": S.runs("p3-relu")}),
        "chosen2": T.config_table(P2.search.chosen), "chosen3": T.config_table(P3.search.chosen),
        "best": T.best_networks_table(), "experiments": T.experiment_table(),
        "regularized": T.variant_text(S.variant_table(S.runs("p3-regularized"), "dropout")),
        "literature": literature.comparison_table(P3), "depth": T.depth_table(P3.depth),
    }


def test_tables_show_no_raw_identifiers_and_keep_mean_and_sd_together(tables):
    for name, table in tables.items():
        for column in table.columns:
            assert not RAW.search(str(column)), f"{name}: column {column!r}"
            for cell in table[column]:
                assert isinstance(cell, str), f"{name}.{column}: {cell!r} is not formatted text"
                shown = CODE_SPAN.sub("", cell)  # commands are code spans: shown as typed
                assert not RAW.search(shown), f"{name}.{column}: {cell!r}"
                if "±" in cell:
                    assert "\u00a0±\u00a0" in cell, f"{name}.{column}: {cell!r} can wrap at ±"


def test_commands_in_the_appendix_table_are_code_spans(tables):
    for command in tables["experiments"]["experiment (the command that recomputes it)"]:
        assert re.fullmatch(r"`python -m hw7 (run|tune) [\w-]+( --trials \d+)?`", command), command


def test_inline_values_are_inserted_as_they_read(mnist):
    """Quarto inserts an inline ``str`` through its repr, so a str that repr escapes (a no-break
    space) would show as ``\\xa0``: every inline value is Markdown or a str that reads as itself.
    Runs each chapter's cells except figures, then evaluates its inline expressions."""
    for path in book_files():
        namespace: dict = {}
        for options, code in cells(path):
            if not options.get("label", "").startswith("fig-"):
                exec(compile(code, str(path), "exec"), namespace)
        for expr in INLINE.findall(path.read_text(encoding="utf-8")):
            value = eval(expr, namespace)
            if isinstance(value, Markdown):
                continue
            text = str(value)
            assert repr(text)[1:-1] == text, f"{path.name}: `{expr}` gives {text!r}"
