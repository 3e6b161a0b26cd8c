"""`rnnreg data`: the data-directory setting, list states, and fetch — offline, over loopback only."""

import functools
import hashlib
import http.server
import io
import tarfile
import threading

import pytest
from click.testing import CliRunner

from rnnreg import data
from rnnreg.cli import cli
from rnnreg.errors import RnnregError

FILES = {"corpus.train.txt": b"the dog and the cat\n", "corpus.test.txt": b"a cat\n"}


@pytest.fixture
def toy_dataset(monkeypatch):
    """A small dataset with known digests, registered for the test in place of a real one."""
    toy = data.Dataset("toy", "a toy corpus", "http://127.0.0.1:9/none.tar.gz",
                       {name: hashlib.sha256(body).hexdigest() for name, body in FILES.items()})
    monkeypatch.setitem(data.DATASETS, "toy", toy)
    return toy


def tarball(files, top="toy-1.0/data"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        info = tarfile.TarInfo(f"{top}/unrelated.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    return buffer.getvalue()


@pytest.fixture
def loopback_server(tmp_path):
    """Serve a folder over HTTP on 127.0.0.1 (never the internet)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNREG_DATA_DIR", str(tmp_path / "env"))
    assert data.resolve_data_dir(tmp_path / "opt") == (tmp_path / "opt", "--data-dir")
    assert data.resolve_data_dir() == (tmp_path / "env", "RNNREG_DATA_DIR")
    monkeypatch.delenv("RNNREG_DATA_DIR")
    assert data.resolve_data_dir()[1] == "default"


def test_fetch_over_loopback_verifies_and_installs(toy_dataset, loopback_server, tmp_path):
    root, base = loopback_server
    (root / "toy.tar.gz").write_bytes(tarball(FILES))
    target = data.fetch("toy", tmp_path / "data", url=f"{base}/toy.tar.gz")
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    assert data.check(toy_dataset, target) == ("verified", [])
    assert data.require("toy", tmp_path / "data") == target


def test_fetch_with_a_wrong_file_installs_nothing(toy_dataset, loopback_server, tmp_path):
    root, base = loopback_server
    (root / "toy.tar.gz").write_bytes(tarball({**FILES, "corpus.test.txt": b"tampered\n"}))
    with pytest.raises(RnnregError, match="SHA-256 mismatch in corpus.test.txt; nothing was installed"):
        data.fetch("toy", tmp_path / "data", url=f"{base}/toy.tar.gz")
    assert list((tmp_path / "data").iterdir()) == []  # no partial dataset, no temporary folder


def test_fetch_offline_is_one_line_with_source_and_destination(toy_dataset, tmp_path):
    with pytest.raises(RnnregError) as err:
        data.fetch("toy", tmp_path / "data")  # port 9 on loopback: connection refused
    message = str(err.value)
    assert "could not download http://127.0.0.1:9/none.tar.gz" in message
    assert f"put its files (corpus.test.txt, corpus.train.txt) in {tmp_path / 'data' / 'toy'}" in message
    assert "\n" not in message


def test_fetch_from_a_file_url(toy_dataset, tmp_path):
    archive = tmp_path / "toy.tar.gz"
    archive.write_bytes(tarball(FILES, top="elsewhere"))
    result = CliRunner().invoke(cli, ["data", "fetch", "toy", "--data-dir", str(tmp_path / "d"), "--url", archive.as_uri()])
    assert result.exit_code == 0, result.output
    assert "verified and installed" in result.stderr


def test_list_shows_verified_wrong_and_missing(toy_dataset, tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "corpus.train.txt").write_bytes(FILES["corpus.train.txt"])
    assert data.check(toy_dataset, folder) == ("missing", ["corpus.test.txt"])
    (folder / "corpus.test.txt").write_bytes(b"wrong")
    assert data.check(toy_dataset, folder) == ("mismatch", ["corpus.test.txt"])
    out = CliRunner().invoke(cli, ["data", "list", "--data-dir", str(tmp_path), "--format", "csv"])
    assert "toy,present but wrong (checksum mismatch),corpus.test.txt," in out.stdout
    assert "ptb,missing," in out.stdout
    # A corrupt dataset is a fault a script must see: exit 1, one line naming it; missing ones are not.
    assert out.exit_code == 1 and "Error: toy: present but failing the SHA-256 check" in out.stderr
    (folder / "corpus.test.txt").write_bytes(FILES["corpus.test.txt"])
    out = CliRunner().invoke(cli, ["data", "list", "--data-dir", str(tmp_path), "--format", "json"])
    assert '"status": "present, verified"' in out.stdout and out.exit_code == 0


def test_a_task_without_its_data_fails_fast_with_the_fetch_hint(plugins, tmp_path):
    with pytest.raises(RnnregError, match=r"dataset 'ptb' is missing from .*; run `rnnreg data fetch ptb`"):
        plugins.tasks.get("ptb").cls().load(tmp_path)


def test_the_known_digests_are_the_published_ones():
    """The digests compiled into rnnreg equal the SHA256SUMS shipped beside the staged data."""
    sums = data.resolve_data_dir()[0] / "SHA256SUMS"
    if not sums.exists():
        pytest.skip(f"no SHA256SUMS in the data directory ({sums}); set RNNREG_DATA_DIR to the staged data")
    published = {line.split()[1].removeprefix("./"): line.split()[0] for line in sums.read_text().splitlines() if line.strip()}
    ours = {f"{d.name}/{path}": digest for d in data.DATASETS.values() for path, digest in d.files.items()}
    assert ours == published
