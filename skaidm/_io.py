"""Writing files so that a failure never leaves a partial file behind."""

import os
import secrets


def atomic_write(path, write):
    """Call ``write(f)`` on a temp file next to ``path``, then rename it to ``path``.

    On any failure, including KeyboardInterrupt, the temp file is removed and
    ``path`` is left untouched.
    """
    target = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(target))
    tmp = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # Mode 0o666 lets the umask set the permissions, as open() would.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise OSError(
            f"cannot write {target!r}: {error.strerror or error} "
            f"(directory {directory!r})"
        ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
