"""federate-zip read through federate: found by entry point, listed, ranged, downloaded."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import federate
from federate.errors import INVALID_PARAMETER_VALUE, NOT_IMPLEMENTED, RESOURCE_DOES_NOT_EXIST
from federate.plugins.manager import get_plugin_host
from federate.testing.cli import python_path, run_federate
from federate.testing.errors import raises_federate_error
from federate.testing.stores import StoreUnderTest
from federate.testing.trees import tree_digest

FILES = {
    "MLmodel": b"flavors:\n  python_function: {}\n",
    "empty.txt": b"",
    "weights/größe.bin": os.urandom(3 * 1024 * 1024 + 5),
    "weights/small.json": b'{"k": "v"}',
}


def fill(store: StoreUnderTest) -> None:
    for path, data in FILES.items():
        store.put(path, data)


def test_the_plugin_is_discovered_through_its_entry_point(federate_home):
    record, info = get_plugin_host().repo_plugin("zip:///any.zip")
    assert (record.name, info.package, info.origin, info.api) == (
        "zip",
        "federate-zip",
        "entry point",
        (1,),
    )


def test_files_are_listed_ranged_and_downloaded_byte_for_byte(store_zip, federate_home, tmp_path):
    fill(store_zip)
    repo = get_plugin_host().open_repo(store_zip.root)
    assert {f.path: f.file_size for f in repo.walk_files()} == {p: len(d) for p, d in FILES.items()}
    assert [(f.path, f.is_dir) for f in repo.list()] == [
        ("MLmodel", False),
        ("empty.txt", False),
        ("weights", True),
    ]
    assert [f.path for f in repo.list("weights")] == ["weights/größe.bin", "weights/small.json"]
    big = FILES["weights/größe.bin"]
    assert repo.read_range("weights/größe.bin", 1_000_000, 17) == big[1_000_000:1_000_017]
    assert repo.read_range("weights/größe.bin", len(big) - 3, 100) == big[-3:]  # short at EOF
    assert repo.read_range("weights/größe.bin", len(big) + 1, 10) == b""
    crc = zipfile.crc32(FILES["weights/small.json"])
    assert repo.stat("weights/small.json").checksum == f"crc32:{crc:08x}"

    dst = federate.download(store_zip.root, tmp_path / "out")
    assert {p: (Path(dst) / p).read_bytes() for p in FILES} == FILES


def test_parallel_ranged_reads_reassemble_the_file(store_zip, federate_home):
    """What the transfer engine does with a large file: many ranges, many threads."""
    fill(store_zip)
    repo = get_plugin_host().open_repo(store_zip.root)
    big = FILES["weights/größe.bin"]
    chunk = 256 * 1024
    with ThreadPoolExecutor(8) as pool:
        parts = pool.map(
            lambda start: repo.read_range("weights/größe.bin", start, chunk),
            range(0, len(big), chunk),
        )
        assert b"".join(parts) == big


def test_a_member_as_root_downloads_one_file(store_zip, federate_home, tmp_path):
    fill(store_zip)
    out = federate.download(store_zip.uri("weights/small.json"), tmp_path / "x.json")
    assert Path(out).read_bytes() == FILES["weights/small.json"]


def test_a_registry_version_stored_in_an_archive(store_zip, sqlite_registry, tmp_path):
    """A version registered with a zip: source resolves and downloads like any other."""
    fill(store_zip)
    sqlite_registry.create_registered_model("fraud")
    sqlite_registry.create_model_version("fraud", source=store_zip.root)
    sqlite_registry.set_registered_model_alias("fraud", "champion", 1)
    dst = federate.download("models:/fraud@champion", tmp_path / "fraud")
    assert {p: (Path(dst) / p).read_bytes() for p in FILES} == FILES


def test_archives_kept_in_a_local_store(store_local, federate_home, tmp_path):
    source = tmp_path / "src"
    for path, data in FILES.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_bytes(data)
    archive = tmp_path / "built.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in FILES:
            zf.write(source / path, f"model/{path}")
    store_local.put("fraud/2.zip", archive.read_bytes())
    location = f"zip://{store_local.root.removeprefix('file://')}/fraud/2.zip!/model"
    out = federate.download(location, tmp_path / "out")
    assert tree_digest(out) == tree_digest(source)


def test_missing_things_are_resource_does_not_exist(store_zip, federate_home, tmp_path):
    fill(store_zip)
    repo = get_plugin_host().open_repo(store_zip.root)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "No such file", "'data/nope.bin'"):
        repo.read_range("nope.bin", 0, 1)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "No such file or directory"):
        repo.stat("weights/nope")
    assert repo.list("nope") == []
    missing = tmp_path / "missing.zip"
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, f"No such zip archive: {missing}"):
        federate.download(f"zip://{missing}", tmp_path / "out")


def test_bad_locations_and_archives_are_invalid_parameter_value(federate_home, tmp_path):
    not_zip = tmp_path / "not.zip"
    not_zip.write_text("hello")
    cases = {
        f"zip://{not_zip}": f"{not_zip} is not a readable zip archive",
        "zip://fileserver/share/a.zip": "names host 'fileserver'; archives must be local",
        "zip://": "names no archive",
    }
    for location, message in cases.items():
        with raises_federate_error(INVALID_PARAMETER_VALUE, message, case=location):
            federate.list_artifacts(location)


def test_members_escaping_the_destination_are_refused(federate_home, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", b"fine")
        zf.writestr("../escaped.txt", b"gotcha")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "outside the destination"):
        federate.download(f"zip://{archive}", tmp_path / "out" / "dst")
    assert not (tmp_path / "out" / "escaped.txt").exists()
    assert not (tmp_path / "out" / "dst").exists()


def test_encrypted_members_are_refused_clearly(federate_home, tmp_path):
    archive = tmp_path / "secret.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", b"x")
    raw = bytearray(archive.read_bytes())
    # set the "encrypted" flag bit in the central directory entry, as zip -e would
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 8] |= 0x1
    archive.write_bytes(bytes(raw))
    with raises_federate_error(NOT_IMPLEMENTED, "is encrypted"):
        get_plugin_host().open_repo(f"zip://{archive}").read_range("a.txt", 0, 1)


def test_command_line_lists_an_archive_and_loads_the_repo_lazily(store_zip, federate_home):
    fill(store_zip)
    out = run_federate("ls", "--no-header", store_zip.root, "weights")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        str(len(FILES["weights/größe.bin"])),
        "weights/größe.bin",
        str(len(FILES["weights/small.json"])),
        "weights/small.json",
    ]
    probe = run_federate("plugins", "--json")
    assert probe.returncode == 0, probe.stderr
    assert '"zip": "zip"' in probe.stdout


LAZY_PROBE = """
import sys
import federate.cli
sys.argv = ["federate", *sys.argv[1:]]
try:
    federate.cli.main()
except SystemExit:
    pass
print("federate_zip.repo" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("command", [["plugins"], ["ls", "/"]])
def test_federate_never_imports_the_repository_unless_a_zip_location_is_used(
    command, federate_home
):
    env = {**os.environ, "PYTHONPATH": python_path(base=os.environ.get("PYTHONPATH"))}
    out = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE, *command], capture_output=True, text=True, env=env
    )
    assert out.stderr.strip().splitlines()[-1] == "False", out.stderr
