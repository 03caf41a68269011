"""Errors a user can fix. The CLI prints them as one line, without a stack trace."""


class UserError(Exception):
    """Bad input or configuration; the message names the file and the problem."""


class MediaError(UserError):
    """A video or audio file that cannot be decoded (corrupt, truncated, no stream)."""


class MetadataError(UserError):
    """A metadata entry that contradicts itself or the files on disk."""
