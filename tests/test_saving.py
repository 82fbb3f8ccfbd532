"""Saves behave as a user expects of a file write: a failure is a typed ``SaveError`` naming the path and
the reason (never a raw ``OSError``) and leaves no temporary file; the file written keeps the mode of
the one it replaces, a new one gets the umask's mode, and a symlink stays a link to the file written.
Every gbinfer format goes through the same atomic write, so each case runs for ``.xgbrs``, ``.json``
and ``.apr``."""

import errno
import json
import os
import shutil
import stat
import tempfile

import numpy as np
import pytest

import gbinfer
import gbinfer.apr
import gbinfer.serialization.binary  # noqa: F401 - imported before a forked child drops privileges
import gbinfer.serialization.json  # noqa: F401
from gbinfer.errors import GbinferError, SaveError

xgb = pytest.importorskip("xgboost")

SUFFIXES = [".xgbrs", ".json", ".apr"]
NOBODY = 65534


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, xgb.DMatrix(X, X[:, 0] > 0), 4)
    return gbinfer.load(bytes(bst.save_raw("ubj"))), bst, X


@pytest.fixture
def model(trained):
    return trained[0]


def _name_of(path) -> str:
    """The ``name`` a save stored: model user metadata, or for ``.apr`` the container's metadata."""
    if str(path).endswith(".apr"):
        return gbinfer.apr.inspect(path)["metadata"]["name"]
    return gbinfer.load(path).meta.user_metadata["name"]


def _names(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _assert_save_error(info, path, reason_pattern, cause=OSError):
    err = info.value
    assert isinstance(err, GbinferError) and isinstance(err, OSError)
    assert err.path == str(path)
    assert str(path) in str(err)
    assert isinstance(err.__cause__, cause)
    assert err.errno == err.__cause__.errno
    assert reason_pattern in str(err)


# --- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_into_a_missing_directory_is_a_save_error(tmp_path, model, suffix):
    path = tmp_path / "absent" / f"m{suffix}"
    with pytest.raises(SaveError) as info:
        gbinfer.save(model, path)
    _assert_save_error(info, path, f"the directory '{tmp_path / 'absent'}' does not exist", FileNotFoundError)
    assert _names(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_onto_a_directory_is_a_save_error(tmp_path, model, suffix):
    path = tmp_path / f"d{suffix}"
    path.mkdir()
    with pytest.raises(SaveError, match="it is a directory") as info:
        gbinfer.save(model, path)
    assert info.value.path == str(path) and str(path) in str(info.value)
    assert path.is_dir() and _names(tmp_path) == [path.name] and _names(path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_onto_a_fifo_is_refused_and_the_fifo_stays(tmp_path, model, suffix):
    """A save renames over its path: over a FIFO or a device (``/dev/null``, as root) that would
    replace the node itself. A FIFO of the test's own stands for both, so a regression harms nothing."""
    path = tmp_path / f"pipe{suffix}"
    os.mkfifo(path)
    with pytest.raises(SaveError, match="not a regular file") as info:
        gbinfer.save(model, path)
    assert info.value.path == str(path)
    assert stat.S_ISFIFO(os.stat(path).st_mode) and _names(tmp_path) == [path.name]


def _in_child_without_root(fn) -> dict:
    """Run ``fn`` in a forked child that, when this process is root, first becomes ``nobody``: root
    writes into read-only directories, a user does not. The child reports what ``fn`` raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        report = {"raised": None}
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which asserts on it
            report = {"raised": type(exc).__name__, "save_error": isinstance(exc, SaveError),
                      "os_error": isinstance(exc, OSError), "message": str(exc),
                      "path": getattr(exc, "path", None), "cause": type(exc.__cause__).__name__}
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_into_a_read_only_directory_is_a_save_error(model, suffix):
    directory = tempfile.mkdtemp()  # under /tmp, which the child may traverse whoever it runs as
    try:
        old = os.path.join(directory, f"old{suffix}")
        gbinfer.save(model, old)
        before = open(old, "rb").read()
        os.chmod(old, 0o666)  # the file is writable: only the directory is not
        os.chmod(directory, 0o555)
        report = _in_child_without_root(lambda: gbinfer.save(model, os.path.join(directory, f"new{suffix}")))
        assert report["raised"] == "SaveError" and report["save_error"] and report["os_error"]
        assert report["path"] == os.path.join(directory, f"new{suffix}")
        assert report["cause"] == "PermissionError"
        assert f"permission denied: the directory '{directory}' is not writable" in report["message"]
        report = _in_child_without_root(lambda: gbinfer.save(model, old))
        assert report["raised"] == "SaveError" and report["path"] == old
        assert sorted(os.listdir(directory)) == [f"old{suffix}"]
        assert open(old, "rb").read() == before
    finally:
        os.chmod(directory, 0o755)
        shutil.rmtree(directory)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_overwriting_a_read_only_file_is_a_save_error(model, suffix):
    """``open(path, "wb")`` refuses a file the user may not write; the rename a save makes must too."""
    directory = tempfile.mkdtemp()
    try:
        path = os.path.join(directory, f"m{suffix}")
        gbinfer.save(model, path)
        before = open(path, "rb").read()
        os.chmod(path, 0o444)
        os.chmod(directory, 0o777)  # the directory is writable: only the file is not
        report = _in_child_without_root(lambda: gbinfer.save(model, path))
        assert report["raised"] == "SaveError" and report["os_error"] and report["path"] == path
        assert report["cause"] == "PermissionError" and "the file is read-only for this user" in report["message"]
        assert os.listdir(directory) == [f"m{suffix}"] and open(path, "rb").read() == before
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    finally:
        os.chmod(directory, 0o755)
        shutil.rmtree(directory)


class _FullDisk:
    """The file object a save writes to, taking ``room`` bytes and then failing as a full disk does."""

    def __init__(self, fh, room: int):
        self._fh, self._room = fh, room

    def write(self, data):
        n = memoryview(data).nbytes
        if n > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= n
        return self._fh.write(data)

    def fileno(self):
        return self._fh.fileno()

    def flush(self):
        self._fh.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("where", ["write", "fsync"])
def test_full_disk_is_a_save_error_and_keeps_the_old_file(tmp_path, monkeypatch, model, suffix, where):
    path = tmp_path / f"m{suffix}"
    gbinfer.save(model, path)
    before = path.read_bytes()
    if where == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda fd, mode="r", *a, **k: _FullDisk(real_fdopen(fd, mode), 100))
    else:  # delayed allocation and network file systems report ENOSPC at fsync
        def full(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SaveError) as info:
        gbinfer.save(model, path, metadata={"name": "new"})
    _assert_save_error(info, path, "no space left on the device")
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert _names(tmp_path) == [path.name]
    assert path.read_bytes() == before


def test_a_save_error_is_still_an_os_error(tmp_path, model):
    """Code written against the raw ``OSError`` keeps working."""
    try:
        gbinfer.save(model, tmp_path / "absent" / "m.xgbrs")
    except OSError as exc:
        assert exc.errno == errno.ENOENT and exc.filename == str(tmp_path / "absent" / "m.xgbrs")
    else:  # pragma: no cover
        raise AssertionError("no error")


# --- what the file is after a save ------------------------------------------------------------

@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_overwriting_keeps_the_file_mode(tmp_path, model, suffix, mode):
    path = tmp_path / f"m{suffix}"
    gbinfer.save(model, path)
    os.chmod(path, mode)
    gbinfer.save(model, path, metadata={"name": "again"})
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert _name_of(path) == "again"


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_a_new_file_gets_the_umask_mode(tmp_path, model, suffix, umask):
    old = os.umask(umask)
    try:
        gbinfer.save(model, tmp_path / f"m{suffix}")
        with open(tmp_path / f"plain{suffix}", "wb"):  # what any other program's write gives
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / f"m{suffix}").st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(os.stat(tmp_path / f"m{suffix}").st_mode) == \
        stat.S_IMODE(os.stat(tmp_path / f"plain{suffix}").st_mode)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_overwriting_keeps_the_owner(tmp_path, model, suffix):
    path = tmp_path / f"m{suffix}"
    gbinfer.save(model, path)
    owner = NOBODY if os.geteuid() == 0 else os.geteuid()  # only root can own another's file
    os.chown(path, owner, -1)
    gbinfer.save(model, path, metadata={"name": "again"})
    assert os.stat(path).st_uid == owner


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_saving_through_a_symlink_writes_the_target(tmp_path, trained, suffix):
    model, bst, X = trained
    real_dir, link_dir = tmp_path / "real", tmp_path / "links"
    real_dir.mkdir()
    link_dir.mkdir()
    target = real_dir / f"m{suffix}"
    gbinfer.save(model, target, metadata={"name": "old"})
    os.chmod(target, 0o600)
    link = link_dir / f"current{suffix}"
    link.symlink_to(os.path.relpath(target, link_dir))
    gbinfer.save(model, link, metadata={"name": "new"})
    assert link.is_symlink() and os.readlink(link) == os.path.relpath(target, link_dir)
    assert _name_of(target) == "new"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert _names(real_dir) == [target.name] and _names(link_dir) == [link.name]
    assert np.array_equal(gbinfer.load(link).predict(X), bst.predict(xgb.DMatrix(X)))


def test_saving_through_a_dangling_symlink_creates_its_target(tmp_path, model):
    link = tmp_path / "m.xgbrs"
    link.symlink_to("made.xgbrs")
    gbinfer.save(model, link)
    assert link.is_symlink() and (tmp_path / "made.xgbrs").is_file()
    assert _names(tmp_path) == ["m.xgbrs", "made.xgbrs"]


def test_every_format_writes_through_the_one_atomic_helper(tmp_path, monkeypatch, model):
    """``.xgbrs``, ``.json`` and ``.apr`` all end in ``serialization.atomic_write``."""
    from gbinfer import serialization

    seen = []
    real = serialization.atomic_write
    monkeypatch.setattr(serialization, "atomic_write", lambda path, write: (seen.append(path), real(path, write)))
    monkeypatch.setattr(gbinfer.serialization.binary, "atomic_write", serialization.atomic_write)
    monkeypatch.setattr(gbinfer.serialization.json, "atomic_write", serialization.atomic_write)
    for suffix in SUFFIXES:
        gbinfer.save(model, tmp_path / f"m{suffix}")
    assert seen == [tmp_path / f"m{suffix}" for suffix in SUFFIXES]


@pytest.mark.parametrize("raised", [KeyboardInterrupt, MemoryError])
def test_an_interrupted_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, model, raised):
    """Not an ``OSError``: it goes up as it is (not as a SaveError), and the write is still undone."""
    path = tmp_path / "m.xgbrs"
    gbinfer.save(model, path)
    before = path.read_bytes()

    def interrupted(spec, fh):
        fh.write(b"XGBRS partial")
        raise raised()

    monkeypatch.setattr(gbinfer.serialization.binary, "write_spec", interrupted)
    with pytest.raises(raised):
        gbinfer.save(model, path, metadata={"name": "new"})
    assert _names(tmp_path) == ["m.xgbrs"] and path.read_bytes() == before
