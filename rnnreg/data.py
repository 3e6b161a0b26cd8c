"""Datasets on disk: where they live, whether they are intact, and how to fetch them.

The data directory is `--data-dir`, then RNNREG_DATA_DIR, then a per-user default. Each dataset is a
folder of files with known SHA-256 digests (those of the published files). `fetch` downloads the public
archive, picks the files out of it by name, verifies every one, and only then moves the folder into
place, so a failed or interrupted fetch never leaves a partial dataset behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from rnnreg.errors import RnnregError

DATA_DIR_ENV = "RNNREG_DATA_DIR"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rnnreg" / "data"


def resolve_data_dir(option: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The data directory and how it was chosen ("--data-dir", "RNNREG_DATA_DIR" or "default")."""
    if option:
        return Path(option).expanduser(), "--data-dir"
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser(), DATA_DIR_ENV
    return default_data_dir(), "default"


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    source: str  # the public archive
    files: dict[str, str]  # path inside the dataset folder → SHA-256 of the published file
    # path inside the dataset folder → the file's name inside the archive, where the two differ
    archive_names: dict[str, str] = field(default_factory=dict)
    optional: frozenset = frozenset()  # files checked when present but not required (READMEs)

    def required(self) -> dict[str, str]:
        return {path: digest for path, digest in self.files.items() if path not in self.optional}


CORNELL = "http://www.cs.cornell.edu/people/pabo/movie-review-data"
CRITICS = ("Dennis+Schwartz", "James+Berardinelli", "Scott+Renshaw", "Steve+Rhodes")
SCALE_DIGESTS = {
    "Dennis+Schwartz": ("f7eb85839454406ed767752cedbff8d9ea8f059d3811366aec75aa24ebb0c515",
                        "38fd3819797f0857fce3371e81f87f239ac37bf3657dc0baeda7db18997ec9a3",
                        "4040ceabf677075a69041c6bac25ef38376856d3e25bd4205e0abbae6bf36d6a",
                        "b9057227d5b1324f49d5f402f1cad0ae472f3d130f35a24a5334ab7db6726be7",
                        "cb26f952c091c510c786627a45a5af3fb5c87a986f9aa3eb7eef6e4ed1797a02"),
    "James+Berardinelli": ("5e902c3fd5c7325c119215b888c56c14d42f9b4eb9e72eb0e33b69e8a1f23d73",
                           "330f37acc631d278f21d63ed2dd6857d40ced7ca203b258f4d4e65527d1cc645",
                           "e75f0b5bd3047ff6475a8073ca43e995b3024dc0c3036222ea9c9613b1130212",
                           "91abefa233432a2b92a82e0cb40706bd38e48e1ce4165e7a16584a6ec1dd8ed0",
                           "1b612ca24494cc675f5e58c1fc320501446da2ed2520a00edb3522b565640658"),
    "Scott+Renshaw": ("689d7e036d0fc77b220b5cd36db9ef70a9da8d43167aef0e6a34bfaabc5c00fc",
                      "baebc32f2c21ce9247e5ba6c7f59c8fb5f381fc48a9a1e2146d8d95a84ce377c",
                      "2044fe4964d2a1201c9aa76f5729c213f5a876b76288bf708f7c9d78672367ee",
                      "cbe4f07da184e0c68a1051503c91c2474bb23c8d6b433e57d99dc2a8ae43760c",
                      "c1b0b7b80fa4161053fee1125e7fb7bfba987fcfa08a8ab525504eff4c988cec"),
    "Steve+Rhodes": ("160fa461df139b36a687a3d08d6abaf871ff271b331ad315cc2ab89cd48436d4",
                     "21a7753c10cb71def6461f13a89f8f2c28920848333987fe6175f1e6ed3e4732",
                     "c5d98f32b6558a63100136e947039541565b4274e8509b9b5aaa4bba1a9f9411",
                     "bbbe28efbe998827cfe2737a25d19977091a2deea141461eb8e241ce6f5bc03d",
                     "33ef24625d183f6f9ecf03f356e055e9ff998ac7773f48939a364e9900bbf10a"),
}
SCALE_KINDS = ("id", "label.3class", "label.4class", "rating", "subj")

DATASETS = {
    d.name: d
    for d in (
        Dataset(
            "ptb", "Penn Treebank, Mikolov's word-level version (10k vocabulary)",
            "https://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz",
            {"ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
             "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
             "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
             "README": "3e3dc882f44782a358d27a2d0f5270b064c63bf7993a0cc5cd893392acc1d833"},
            archive_names={"README": "data/README"},
            optional=frozenset({"README"}),
        ),
        Dataset(
            "wikitext-2", "WikiText-2 v1, tokenized (Merity et al. 2016)",
            "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
            {"train.txt": "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
             "valid.txt": "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
             "test.txt": "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
             "README": "ed96062abea03d4f4e8ca80f0caad8b07ec59687b8064319c7ee6f6d900b6286"},
            archive_names={"train.txt": "wiki.train.tokens", "valid.txt": "wiki.valid.tokens",
                           "test.txt": "wiki.test.tokens"},
            optional=frozenset({"README"}),
        ),
        Dataset(
            "scaledata", "Pang & Lee sentiment scale dataset v1.0 (5,006 reviews, four critics)",
            f"{CORNELL}/scale_data.tar.gz",
            {"scaledata.README.1.0.txt": "06ac8ed6bd8a13de177cc9e14ccff022ece855f0ebf14bc95ce9c3a6a39883bd",
             **{f"scaledata/{critic}/{kind}.{critic}": digest
                for critic, digests in SCALE_DIGESTS.items()
                for kind, digest in zip(SCALE_KINDS, digests, strict=True)}},
            archive_names={f"scaledata/{c}/{k}.{c}": f"{c}/{k}.{c}" for c in CRITICS for k in SCALE_KINDS},
            optional=frozenset({"scaledata.README.1.0.txt"}),
        ),
        Dataset(
            "rt-polarity", "Pang & Lee sentence polarity dataset v1.0 (Windows-1252 text)",
            f"{CORNELL}/rt-polaritydata.tar.gz",
            {"rt-polarity.pos": "d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4",
             "rt-polarity.neg": "4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc",
             "rt-polaritydata.README.1.0.txt": "67bc8e858b247a20eb5d6dec39d1fca89ea36112872b48ac8fddfb599dadbf49"},
            optional=frozenset({"rt-polaritydata.README.1.0.txt"}),
        ),
    )
}


def get_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise RnnregError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    return DATASETS[name]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check(dataset: Dataset, folder: Path) -> tuple[str, list[str]]:
    """("verified" | "mismatch" | "missing", the files at fault)."""
    missing = [p for p in dataset.required() if not (folder / p).is_file()]
    if missing:
        return "missing", missing
    wrong = [p for p, digest in dataset.files.items() if (folder / p).is_file() and sha256_of(folder / p) != digest]
    return ("mismatch", wrong) if wrong else ("verified", [])


def manual_hint(dataset: Dataset, folder: Path) -> str:
    return f"download {dataset.source} and put its files ({', '.join(sorted(dataset.required()))}) in {folder}"


def require(name: str, data_dir: Path | None) -> Path:
    """The verified folder of a dataset, or a one-line error that says how to get it."""
    dataset = get_dataset(name)
    folder = (data_dir or resolve_data_dir()[0]) / name
    state, files = check(dataset, folder)
    if state == "missing":
        raise RnnregError(f"dataset {name!r} is missing from {folder} ({', '.join(files)}); "
                          f"run `rnnreg data fetch {name}` or {manual_hint(dataset, folder)}")
    if state == "mismatch":
        raise RnnregError(f"dataset {name!r} in {folder} has files that fail their SHA-256 check ({', '.join(files)}); "
                          f"remove the folder and run `rnnreg data fetch {name}`")
    return folder


def fetch(name: str, data_dir: Path, url: str | None = None, timeout: float = 60.0) -> Path:
    """Download, verify and install a dataset; all or nothing. Returns its folder."""
    dataset = get_dataset(name)
    url = url or dataset.source
    target = data_dir / name
    if check(dataset, target)[0] == "verified":
        return target
    if target.exists():
        raise RnnregError(f"{target} exists but is not a verified copy of {name!r}; remove it and fetch again")
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=f".fetch-{name}-") as tmp:
        archive = Path(tmp) / "archive"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RnnregError(f"could not download {url} ({reason}); offline? {manual_hint(dataset, target)}") from None
        staged = Path(tmp) / name
        unpack_selected(archive, dataset, staged)
        state, files = check(dataset, staged)
        if state != "verified":
            raise RnnregError(f"{url}: {'missing' if state == 'missing' else 'SHA-256 mismatch in'} "
                              f"{', '.join(files)}; nothing was installed. {manual_hint(dataset, target)}")
        os.replace(staged, target)
    return target


def unpack_selected(archive: Path, dataset: Dataset, into: Path) -> None:
    """Copy the dataset's files out of a .tar(.gz) or .zip archive, found by file name wherever they sit."""
    # Match on the end of the member's path, so the archive's top folder does not matter.
    by_tail = {dataset.archive_names.get(p, p): p for p in dataset.files}

    def destination(member_name: str) -> str | None:
        clean = member_name.removeprefix("./")
        return next((path for tail, path in by_tail.items() if clean == tail or clean.endswith("/" + tail)), None)

    def write(path: str, source) -> None:
        out = into / path
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as f:
            shutil.copyfileobj(source, f)

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    path = None if info.is_dir() else destination(info.filename)
                    if path:
                        with z.open(info) as src:
                            write(path, src)
        else:
            with tarfile.open(archive) as t:
                for member in t:
                    path = destination(member.name) if member.isfile() else None
                    if path:
                        write(path, t.extractfile(member))
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise RnnregError(f"downloaded file for {dataset.name!r} is not a readable archive ({exc}); "
                          "nothing was installed") from None
