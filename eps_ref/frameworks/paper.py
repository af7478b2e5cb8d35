"""The ``paper`` dialect: the published algorithms."""

VERSION = "-"
