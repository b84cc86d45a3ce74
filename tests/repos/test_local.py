"""The local repository and ``register`` read a directory by one rule (federate.repos.
local_tree): links inside the root are followed, links leaving it, devices, FIFOs and
sockets are refused naming them; so a stored version is exactly what its source downloads
as. Real files, real symlinks, a real FIFO and socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import federate
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from federate.repos.local import LocalArtifactRepository
from federate.testing.errors import raises_federate_error
from federate.testing.trees import tree_digest


def _tree(top: Path) -> dict[str, bytes]:
    return {p.relative_to(top).as_posix(): p.read_bytes() for p in top.rglob("*") if p.is_file()}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "weights").mkdir(parents=True)
    (root / "weights" / "w.bin").write_bytes(b"weights")
    (root / "MLmodel").write_text("flavors: {}\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "id_rsa").write_text("PRIVATE KEY")
    return secret


def _refused_everywhere(src: Path, tmp_path: Path, *fragments: str) -> None:
    """Download from ``src`` and ``register`` of it both refuse, writing nothing."""
    dst = tmp_path / "dst"
    with raises_federate_error(INVALID_PARAMETER_VALUE, *fragments):
        federate.download(str(src), dst)
    assert not dst.exists()
    with raises_federate_error(INVALID_PARAMETER_VALUE, *fragments):
        federate.register(src, "m")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST):
        federate.get_registry().get_registered_model("m")  # nothing half-registered
    assert not (tmp_path / "federate-home" / "artifacts").exists()


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_a_link_leaving_the_root_is_refused_by_download_and_register(
    sqlite_registry, model: Path, outside: Path, tmp_path: Path, kind: str
) -> None:
    target = outside / "id_rsa" if kind == "file" else outside
    (model / "weights" / "leak").symlink_to(target)
    _refused_everywhere(model, tmp_path, str(model / "weights" / "leak"), "outside", str(target))


def test_a_dangling_link_is_refused_naming_it(sqlite_registry, model, tmp_path):
    (model / "gone").symlink_to(model / "never-there")
    _refused_everywhere(model, tmp_path, str(model / "gone"), "points to nothing")


def test_a_directory_link_to_its_own_ancestor_is_a_loop(sqlite_registry, model, tmp_path):
    (model / "weights" / "again").symlink_to(model)
    _refused_everywhere(model, tmp_path, str(model / "weights" / "again"), "loop")


def test_links_inside_the_root_are_followed_and_the_stored_version_equals_its_download(
    sqlite_registry, model: Path, tmp_path: Path
) -> None:
    (model / "shared").mkdir()
    (model / "shared" / "vocab.txt").write_text("a b c")
    (model / "weights" / "vocab-link.txt").symlink_to("../shared/vocab.txt")  # relative
    (model / "tokenizer").symlink_to(model / "shared")  # a directory, absolute
    expected = {
        "MLmodel": b"flavors: {}\n",
        "weights/w.bin": b"weights",
        "weights/vocab-link.txt": b"a b c",
        "shared/vocab.txt": b"a b c",
        "tokenizer/vocab.txt": b"a b c",
    }
    direct = tmp_path / "direct"
    federate.download(str(model), direct)
    assert _tree(direct) == expected

    mv = federate.register(model, "m")
    stored = tmp_path / "stored"
    federate.download(f"models:/m/{mv.version}", stored)
    assert _tree(stored) == expected
    assert tree_digest(stored) == tree_digest(direct)


@pytest.fixture
def specials(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A FIFO and a listening unix socket, each alone in a directory."""
    fifo_dir, sock_dir = tmp_path / "with-fifo", tmp_path / "with-socket"
    fifo_dir.mkdir()
    sock_dir.mkdir()
    (fifo_dir / "ok.txt").write_text("ok")
    os.mkfifo(fifo_dir / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_dir / "sock"))
    try:
        yield {"fifo": fifo_dir / "pipe", "socket": sock_dir / "sock"}
    finally:
        sock.close()


@pytest.mark.parametrize("kind, says", [("fifo", "FIFO"), ("socket", "a socket")])
def test_fifos_and_sockets_in_a_directory_are_refused_naming_them(
    sqlite_registry, specials: dict[str, Path], tmp_path: Path, kind: str, says: str
) -> None:
    special = specials[kind]
    _refused_everywhere(special.parent, tmp_path, str(special), says, "regular files")


@pytest.mark.parametrize("kind, says", [("fifo", "FIFO"), ("socket", "a socket")])
def test_a_fifo_or_socket_as_the_source_itself_is_refused(
    sqlite_registry, specials: dict[str, Path], tmp_path: Path, kind: str, says: str
) -> None:
    _refused_everywhere(specials[kind], tmp_path, str(specials[kind]), says)


def test_a_device_as_the_source_is_refused(sqlite_registry, tmp_path: Path) -> None:
    _refused_everywhere(Path("/dev/null"), tmp_path, "/dev/null", "a character device")


def test_a_registry_row_whose_source_is_dev_zero_is_refused_not_copied_forever(
    federate_home: Path, tmp_path: Path
) -> None:
    # run apart, with a file size limit: without the check this fills the disk
    script = (
        "import resource, federate\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
        "r = federate.get_registry()\n"
        "r.create_registered_model('zero')\n"
        "r.create_model_version('zero', source='/dev/zero')\n"
        f"federate.download('models:/zero/1', {str(tmp_path / 'dst')!r})\n"
    )
    package_dir = Path(federate.__file__).parent.parent
    env = {**os.environ, "FEDERATE_HOME": str(federate_home), "PYTHONPATH": str(package_dir)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("federate.errors.FederateError: Refusing /dev/zero: it is a character")


def test_repository_paths_with_dot_segments_are_refused(model: Path) -> None:
    repo = LocalArtifactRepository(str(model / "weights"))
    for path in ("../MLmodel", "a/../../MLmodel", "./w.bin"):
        with raises_federate_error(INVALID_PARAMETER_VALUE, repr(path.strip("/")), case=path):
            repo.read_range(path, 0, 10)
    assert repo.read_range("w.bin", 0, 3) == b"wei"
