"""The installed package's version (``moderation --version``, the start-up log line, ``moderation_build_info``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("article-moderation")
except PackageNotFoundError:  # imported from a checkout that was never installed
    VERSION = "0+unknown"
