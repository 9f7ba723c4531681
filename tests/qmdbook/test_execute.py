"""The kernel's recorder of the files a chapter reads (the cache's inputs)."""


from qmdbook.execute import execute
from qmdbook.qmd import load_book

QUARTO = """\
project:
  type: book
book:
  title: "Reads"
  chapters:
    - index.qmd
jupyter: python3
"""

CHAPTER = '''\
# Reads {.unnumbered}

```{python}
import os, shutil, tempfile

scratch = tempfile.mkdtemp(dir=".")
os.makedirs(os.path.join(scratch, "a", "b"))
open(os.path.join(scratch, "a", "b", "f.txt"), "w").close()
shutil.rmtree(scratch)  # lists the folders by os.scandir(fd)
fd = os.open("listed", os.O_RDONLY)
by_fd = os.listdir(fd)
with os.scandir(fd) as entries:
    by_fd += [e.name for e in entries]
os.close(fd)
with open(os.open("opened-by-fd.txt", os.O_RDONLY)) as f:  # open() of an int
    by_fd.append(f.read())
print(sorted(by_fd), open(b"bytes.txt").read(), os.listdir(b"shown"))
```
'''


def test_recorder_takes_file_descriptors_and_bytes(tmp_path):
    """An fd is no path (not recorded), a bytes path is decoded; the chapter's code runs unharmed."""
    (tmp_path / "_quarto.yml").write_text(QUARTO)
    (tmp_path / "index.qmd").write_text(CHAPTER)
    (tmp_path / "listed").mkdir()
    (tmp_path / "listed" / "x").write_text("")
    (tmp_path / "shown").mkdir()
    (tmp_path / "shown" / "y").write_text("")
    (tmp_path / "bytes.txt").write_text("bytes")
    (tmp_path / "opened-by-fd.txt").write_text("fd")
    book = load_book(tmp_path)
    done = execute(book, book.chapters[0], tmp_path / "cache", reuse=False, log=lambda msg: None)
    outputs = [o for cell in done.notebook.cells[1:-1] for o in cell.outputs]
    assert [(o.name, o.text) for o in outputs] == [("stdout", "['fd', 'x', 'x'] bytes [b'y']\n")]
    # listed/ was opened (not read) and listed by fd only; scratch/ is gone
    assert sorted(done.notebook.metadata["qmdbook"]["inputs"]) == [
        "dir:shown", "file:bytes.txt", "file:opened-by-fd.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp")]
