"""Errors the CLI turns into one line (Beam-free, so every module can raise them cheaply)."""


class InputError(Exception):
    """A user mistake about inputs or options; the CLI prints it as one line and exits 2."""
