"""Errors a user can act on: the CLI prints them as one line, without a traceback."""


class GenbenchError(Exception):
    """A problem with the user's input; the message says what and where."""

    exit_code = 1
    quiet = False  # said by another process of the same job (the main rank of a distributed run)

    def after_reporting(self) -> None:
        """What follows the printed line (a requeue after a preemption)."""


class ConfigError(GenbenchError):
    """params.yaml or the command line asks for something not allowed, or a dataset of your own that
    params.yaml names cannot be used as declared."""

    exit_code = 2


class DataError(GenbenchError):
    """An input file is missing, malformed or fails its checksum."""


class OutputError(GenbenchError):
    """An output cannot be written: the disk is full, over quota or read-only."""

    def __init__(self, path, reason: str):
        self.reason = reason
        super().__init__(f"{path}: cannot be written ({reason}); nothing was replaced, free space and rerun this stage")


# A stage stopped by a signal after saving what it had computed exits with this: EX_TEMPFAIL, "try again".
REQUEUE_EXIT_CODE = 75
