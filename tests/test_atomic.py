"""Atomic publishing: writers killed at any moment leave nothing behind for long.

Every test here kills real processes with SIGKILL in the middle of a save, then checks what the
next save cleans up, and that it never touches what is not its own: a live writer's directory,
a name that only looks like ours, or anything behind a link.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import skbundle
from skbundle.core import atomic

SRC = str(Path(skbundle.__file__).parent.parent)
MARKER = "bundle.json"

# A writer whose build writes a little, says so on stdout, then sleeps until it is killed.
SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from skbundle.core import atomic

    def build(tmp):
        (tmp / "bundle.json").write_text("{}")
        (tmp / "model.bin").write_bytes(b"x" * 100_000)
        print("building", flush=True)
        time.sleep(120)

    atomic.write_directory(Path(sys.argv[1]), build, overwrite=True, marker="bundle.json")
    """
)

# The fallback publish (no renameat2): killed between moving the old bundle aside and moving
# the new one in, the worst moment there is.
KILLED_BETWEEN_RENAMES = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from skbundle.core import atomic

    atomic._exchange = lambda a, b: False
    renames = []
    real_rename = os.rename

    def rename(src, dst):
        renames.append(src)
        if len(renames) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        real_rename(src, dst)

    os.rename = rename

    def build(tmp):
        (tmp / "bundle.json").write_text("new")

    atomic.write_directory(Path(sys.argv[1]), build, overwrite=True, marker="bundle.json")
    """
)

# Holds a flock on a directory, like a writer in another PID namespace whose PID means nothing
# here.
LOCK_HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(120)
    """
)


def spawn(script: str, *args: str, ready: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env
    )
    if ready is not None:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == ready
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def running(script: str, *args: str, ready: str) -> Iterator[subprocess.Popen[str]]:
    proc = spawn(script, *args, ready=ready)
    try:
        yield proc
    finally:
        kill(proc)


def dead_pid() -> int:
    """A PID whose process has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def siblings(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name != target.name)


def quick_build(tmp: Path) -> str:
    (tmp / MARKER).write_text("published")
    return "done"


@pytest.mark.timeout(120)
def test_killed_writers_leave_temp_dirs_that_the_next_save_removes(tmp_path: Path) -> None:
    target = tmp_path / "models" / "cancer"
    writers = [spawn(SLOW_WRITER, str(target)) for _ in range(8)]
    for proc in writers:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "building"
    for proc in writers:
        kill(proc)
    left = siblings(target)
    assert len(left) == 8
    assert all(name.startswith(".cancer.tmp-") for name in left)

    with running(SLOW_WRITER, str(target), ready="building") as live:
        (live_dir,) = [n for n in siblings(target) if n.startswith(f".cancer.tmp-{live.pid}-")]
        assert atomic.write_directory(target, quick_build, overwrite=True, marker=MARKER) == "done"
        # The dead writers' directories are gone; the live writer's is untouched.
        assert siblings(target) == [live_dir]
        assert (target.parent / live_dir / "model.bin").stat().st_size == 100_000
        assert (target / MARKER).read_text() == "published"

    atomic.write_directory(target, quick_build, overwrite=True, marker=MARKER)
    assert siblings(target) == []


@pytest.mark.timeout(300)
def test_a_real_save_killed_at_any_moment_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    """skbundle.save of a small pipeline, killed at several moments of its build."""
    target = tmp_path / "iris"
    script = textwrap.dedent(
        """
        import sys
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        import skbundle

        X, y = load_iris(return_X_y=True, as_frame=True)
        pipe = LogisticRegression(max_iter=300).fit(X, y)
        print("saving", flush=True)
        skbundle.save(pipe, sys.argv[1], X_train=X, y_train=y, X_test=X, y_test=y,
                      name="iris", overwrite=True)
        """
    )
    killed = 0
    # Latest moment first: a save may now finish within 1.5 s (and each new save removes
    # the stale directories of the killed ones), so the last writer is the one killed at once.
    for delay in (1.5, 0.5, 0.0):
        proc = spawn(script, str(target), ready="saving")
        deadline = time.monotonic() + 60
        while not any(n.startswith(".iris.tmp-") for n in siblings(target)):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        time.sleep(delay)
        killed += proc.poll() is None
        kill(proc)
    assert killed >= 1
    assert any(n.startswith(".iris.tmp-") for n in siblings(target))

    # One more save of the same bundle, in this process, leaves nothing behind.
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    pipe = LogisticRegression(max_iter=300).fit(X, y)
    skbundle.save(
        pipe, target, X_train=X, y_train=y, X_test=X, y_test=y, name="iris", overwrite=True
    )
    assert siblings(target) == []
    assert skbundle.verify(target).ok


@pytest.mark.timeout(60)
def test_a_lock_held_by_a_live_writer_protects_its_directory(tmp_path: Path) -> None:
    """A writer whose PID means nothing here (another PID namespace) still holds its lock."""
    target = tmp_path / "b"
    foreign = tmp_path / f".b.tmp-{dead_pid()}-abcdef12"
    foreign.mkdir()
    (foreign / "part").write_text("in progress")
    with running(LOCK_HOLDER, str(foreign), ready="locked"):
        atomic.write_directory(target, quick_build, overwrite=False, marker=MARKER)
        assert (foreign / "part").read_text() == "in progress"
    assert atomic.remove_stale(target, marker=MARKER) == [foreign]
    assert siblings(target) == []


@pytest.mark.timeout(60)
def test_nothing_but_our_own_stale_directories_is_removed(tmp_path: Path) -> None:
    target = tmp_path / "b"
    pid = dead_pid()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep")
    keep = [
        ".b.tmp-junk",  # not our pattern
        f".b.tmp-{pid}-zzzzzzzz",  # not hex
        f".b.tmp-{pid}-abcdef12x",  # trailing text
        f".other.tmp-{pid}-abcdef12",  # another bundle's
        f".b.tmp-{pid}",  # no token
        f"b.tmp-{pid}-abcdef12",  # not hidden
    ]
    for name in keep:
        (tmp_path / name).mkdir()
    (tmp_path / f".b.tmp-{pid}-00000000").write_text("a file, not a directory")
    (tmp_path / f".b.tmp-{pid}-11111111").symlink_to(precious, target_is_directory=True)
    stale = tmp_path / f".b.tmp-{pid}-22222222"
    stale.mkdir()
    (stale / "escape").symlink_to(precious, target_is_directory=True)
    (stale / "file").write_text("stale")

    atomic.write_directory(target, quick_build, overwrite=False, marker=MARKER)

    assert not stale.exists()
    assert (precious / "keep.txt").read_text() == "keep"
    assert siblings(target) == sorted(
        [*keep, f".b.tmp-{pid}-00000000", f".b.tmp-{pid}-11111111", "precious"]
    )


@pytest.mark.timeout(60)
def test_a_writer_killed_between_its_two_renames_loses_nothing(tmp_path: Path) -> None:
    target = tmp_path / "b"
    target.mkdir()
    (target / MARKER).write_text("old")
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_BETWEEN_RENAMES, str(target)],
        env={**os.environ, "PYTHONPATH": SRC},
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()
    left = siblings(target)
    assert [n.split("-")[0] for n in left] == [".b.old", ".b.tmp"]

    restored = atomic.remove_stale(target, marker=MARKER)
    assert sorted(p.name for p in restored) == left
    assert (target / MARKER).read_text() == "old"
    assert siblings(target) == []


def test_a_writer_holds_its_lock_while_it_builds(tmp_path: Path) -> None:
    target = tmp_path / "b"
    seen: list[bool] = []

    def build(tmp: Path) -> None:
        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append(tmp.name.startswith(f".b.tmp-{os.getpid()}-"))
        finally:
            os.close(fd)
        (tmp / MARKER).write_text("x")

    atomic.write_directory(target, build, overwrite=False, marker=MARKER)
    assert seen == [True]
    assert siblings(target) == []
