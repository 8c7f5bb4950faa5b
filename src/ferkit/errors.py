"""User-facing errors: the CLI prints them as one `error: ...` line and exits with status 2."""


class FerkitError(Exception):
    """A problem with the user's input (path, image, dataset, checkpoint), not a bug."""
