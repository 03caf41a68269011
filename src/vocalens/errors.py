"""Errors a user can fix (the CLI prints them as one line, without a stack trace), the one form of a message
about a file, and the one exit-status rule of commands over many files."""


class UserError(Exception):
    """Bad input or configuration; the message names the file and the problem."""


class MediaError(UserError):
    """A video or audio file that cannot be decoded (corrupt, truncated, no stream)."""


class MetadataError(UserError):
    """A metadata entry that contradicts itself or the files on disk."""


def named(path, message: str) -> str:
    """``"PATH: message"``, the one form of a message about a file; a message that already starts with the
    path is returned as it is, so the path is never printed twice ("x.mp4: x.mp4: ...")."""
    p = str(path)
    return message if message.startswith(p) else f"{p}: {message}"


def cause(exc: BaseException, path=None) -> str:
    """What went wrong inside a library call, without the file name the library repeats (FFmpeg's errors
    end with ``: 'PATH'``): ``"InvalidDataError: Invalid data found when processing input"``. With ``path``,
    the path inside any other message reads "the file", so the line that names it names it once."""
    text = str(getattr(exc, "strerror", None) or exc)
    text = text.splitlines()[0] if text else ""
    if path is not None:
        text = text.replace(f"'{path}'", "the file").replace(str(path), "the file")
    return f"{type(exc).__name__}: {text}".rstrip(": ")


def check_file(path, what: str = "video"):
    """``path`` as a Path when it is a readable, non-empty file; otherwise the MediaError that says which:
    a directory, a broken link, missing, empty."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        raise MediaError(f"{p}: is a directory, not a {what} file")
    if p.is_symlink() and not p.exists():
        raise MediaError(f"{p}: broken link (points to {p.readlink()})")
    if not p.is_file():
        raise MediaError(f"{p}: file not found")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: empty file")
    return p


def batch_exit(failed: int) -> int:
    """THE exit status of a command over many files, used by every such command: 0 when every file was
    answered, 1 when any failed (the batch still runs to the end). Errors that stop a command before
    its batch (bad flags, a missing checkpoint) are status 2, from vocalens.cli."""
    return 1 if failed else 0
