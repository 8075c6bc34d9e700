"""Reading manifest files safely: from regular files, named pipes or stdin, into text.

Whatever the path, the result is the file's text or one :class:`ManifestError` whose message
says where and what to do. Nothing here hangs: files are opened without blocking; a named pipe
(``<(helm template ...)``) is read once a writer sends data and refused after
:data:`PIPE_WAIT_S` seconds without one; devices and sockets are refused; symlink loops, broken
links and unreadable files are named as such; at most :data:`MAX_FILE_BYTES` are read. Parsing
the text is :mod:`ccc.api.yaml_source`'s job.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from ccc.api.errors import ConfigError

STDIN = "-"
"""The path that means standard input."""

STDIN_SOURCE = "<stdin>"
MAX_FILE_BYTES = 8 * 2**20
"""Largest manifest file read (8 MiB): room for a rendered chart, far below memory trouble."""

PIPE_WAIT_S = 5.0
"""How long a named pipe may stay silent before ccc gives up on it."""

MANIFEST_SUFFIXES = (".yaml", ".yml")


class ManifestError(ConfigError):
    """A file that cannot be read or parsed as YAML.

    Attributes:
        source: the file (``<stdin>`` for standard input).
        line, column: 1-based position of the problem, when known.
    """

    def __init__(
        self, message: str, *, source: str, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.column = column
        self.args = (self.location() + ": " + message,)

    def location(self) -> str:
        """``FILE`` or ``FILE:LINE:COLUMN``."""
        if self.line is None:
            return self.source
        return f"{self.source}:{self.line}:{self.column or 1}"


# --- reading bytes ---------------------------------------------------------------------------


def read_text(path: str | Path) -> tuple[str, str]:
    """The decoded text of a manifest file, ``-`` meaning standard input.

    Returns:
        ``(source, text)``: the name used in messages and the file's text.

    Raises:
        ManifestError: the path cannot be read as a manifest (missing, a loop, a device, too
            large, not UTF-8, a silent pipe, ...), with a message saying what to do.
    """
    if str(path) == STDIN:
        data = _read_stream(sys.stdin.buffer, STDIN_SOURCE)
        return STDIN_SOURCE, _decode(data, STDIN_SOURCE)
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise ManifestError(_open_error(Path(path), exc), source=source) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ManifestError(
                "is a directory; `ccc validate` reads directories, other commands need a file",
                source=source,
            )
        if stat.S_ISFIFO(mode):
            data = _read_pipe(fd, source)
        elif stat.S_ISREG(mode):
            size = os.fstat(fd).st_size
            if size > MAX_FILE_BYTES:
                raise ManifestError(_too_large(size), source=source)
            os.set_blocking(fd, True)
            data = _read_limited(fd, source)
        else:
            raise ManifestError(
                f"is a {_file_type(mode)}, not a manifest file; pass a YAML file, or pipe the"
                " data into `-` (standard input)",
                source=source,
            )
    finally:
        os.close(fd)
    return source, _decode(data, source)


def _open_error(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (too many levels of symbolic links); fix or remove the link"
    if exc.errno == errno.ENOENT:
        if path.is_symlink():
            target = os.readlink(path)
            return f"broken symbolic link to {target}; fix the link or pass the real file"
        return "no such file or directory"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; make the file readable (chmod +r) or run as its owner"
    if exc.errno == errno.ENOTDIR:
        return "a part of this path is not a directory"
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    if exc.errno == errno.ENXIO:
        return "is a socket or a device without a reader; pass a YAML file"
    return f"cannot open: {exc.strerror or exc}"


def _file_type(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _too_large(size: int) -> str:
    return (
        f"file is larger than {MAX_FILE_BYTES // 2**20} MiB ({size / 2**20:.1f} MiB read);"
        " split it into smaller files (the API server accepts at most 3 MiB per object)"
    )


def _read_pipe(fd: int, source: str) -> bytes:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    if not poller.poll(int(PIPE_WAIT_S * 1000)):
        raise ManifestError(
            f"named pipe (FIFO) with nothing written to it within {PIPE_WAIT_S:g} s; start the"
            " writer first, or pipe the data into `-` (standard input)",
            source=source,
        )
    os.set_blocking(fd, True)
    return _read_limited(fd, source)


def _read_limited(fd: int, source: str) -> bytes:
    with os.fdopen(os.dup(fd), "rb", buffering=0) as stream:
        return _read_stream(stream, source)


def _read_stream(stream: BinaryIO, source: str) -> bytes:
    """At most :data:`MAX_FILE_BYTES` of ``stream``, read in chunks."""
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = stream.read(1 << 16)
        except OSError as exc:
            raise ManifestError(f"cannot read: {exc.strerror or exc}", source=source) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise ManifestError(_too_large(total), source=source)


def _decode(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", "replace")
        line, column = position(before, len(before))
        raise ManifestError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            source=source,
            line=line,
            column=column,
        ) from None
    return text.removeprefix("\ufeff")


def position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]`` (or of the end of ``text``)."""
    before = text[:index]
    line = before.count("\n") + 1
    return line, index - (before.rfind("\n") + 1) + 1


def manifest_files(path: str | Path) -> list[Path]:
    """``path`` itself unless it is a directory, else every ``*.yaml``/``*.yml`` entry below it
    (symbolic links to directories are not followed), sorted.

    Raises:
        ManifestError: ``path`` does not exist, is a symlink loop, or cannot be listed.
    """
    p = Path(path)
    if str(path) == STDIN:
        return [p]
    try:
        is_dir = stat.S_ISDIR(os.stat(p).st_mode)
    except OSError as exc:
        raise ManifestError(_open_error(p, exc), source=str(path)) from None
    if not is_dir:
        return [p]
    found: list[Path] = []
    problems: list[OSError] = []
    for root, dirs, files in os.walk(p, onerror=problems.append):
        dirs.sort()
        found += [Path(root, f) for f in files if f.endswith(MANIFEST_SUFFIXES)]
    if problems:
        bad = problems[0]
        raise ManifestError(
            _open_error(Path(bad.filename or p), bad), source=str(bad.filename or path)
        )
    return sorted(found)
