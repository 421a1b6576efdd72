from __future__ import annotations


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message is one line naming the variable."""
