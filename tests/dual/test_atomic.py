# Atomic small files: a cut leaves the old or the new content, never a torn one.
import os

from storetest import fresh_dir, read_bytes, rmtree, write_bytes

from netmeter.atomic import read_atomic, remove_atomic, write_atomic


def test_rename_onto_an_existing_file_replaces_it_on_this_filesystem():
    root = fresh_dir("atomic")
    try:
        write_bytes(root + "/a", b"old")
        write_bytes(root + "/b", b"new")
        os.rename(root + "/b", root + "/a")
        assert read_bytes(root + "/a") == b"new" and os.listdir(root) == ["a"]
    finally:
        rmtree(root)


def test_write_atomic_replaces_and_leaves_no_temp_file():
    root = fresh_dir("atomic")
    try:
        path = root + "/state"
        assert read_atomic(path) is None
        write_atomic(path, b"first")
        write_atomic(path, b"second")
        assert read_atomic(path) == b"second" and os.listdir(root) == ["state"]
        remove_atomic(path)
        assert os.listdir(root) == [] and read_atomic(path) is None
    finally:
        rmtree(root)


def test_a_cut_between_remove_and_rename_falls_back_to_the_whole_temp_file():
    root = fresh_dir("atomic")
    try:
        path = root + "/state"
        write_atomic(path, b"old")
        write_atomic(root + "/other", b"new")
        os.rename(root + "/other", path + ".tmp")  # the new one, written whole
        os.remove(path)  # the cut came after the remove, before the rename
        assert read_atomic(path) == b"new"
    finally:
        rmtree(root)


def test_a_torn_file_is_never_returned():
    root = fresh_dir("atomic")
    try:
        path = root + "/state"
        write_atomic(path, b"0123456789")
        whole = read_bytes(path)
        write_bytes(path + ".tmp", whole[:-3])  # a newer write cut short
        assert read_atomic(path) == b"0123456789"  # the old one stays in force
        write_bytes(path, whole[:5])  # the main file torn too: nothing whole is left
        assert read_atomic(path) is None
        write_bytes(path, b"")
        assert read_atomic(path) is None
    finally:
        rmtree(root)
