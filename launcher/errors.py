"""The one error type the launcher's library code raises.

Only launcher.cli prints it (as `launcher: message`) and turns it into an exit
code; the code defaults to 125, podman's "the runtime itself failed".
"""

EXIT_LAUNCHER = 125    # the launcher failed (bad input, set-up error)
EXIT_CANNOT_RUN = 126  # the command exists but cannot be executed
EXIT_NOT_FOUND = 127   # the command was not found


class LauncherError(Exception):
    """A failure worth one line to the user; `code` is the exit code to use."""

    def __init__(self, message, code=EXIT_LAUNCHER):
        super().__init__(message)
        self.code = code
