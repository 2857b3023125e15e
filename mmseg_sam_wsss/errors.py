"""The one exception type of the package.

Every problem with the user's input (a corrupt file, a size mismatch, a label value out of range,
a missing checkpoint) is raised as :class:`SamWsssError` with a message that names the file and
says how to fix it. Tools print that message as one line and exit non-zero.
"""


class SamWsssError(Exception):
    """Bad input or set-up, with a message meant for the user."""
