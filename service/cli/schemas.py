"""``moderation schemas``: write (or ``--check``) the JSON Schemas and the AsyncAPI document from the models.

Without ``--dir`` it works on the checkout it runs from: the repository's ``schemas/`` and the package's copies
(``service/contracts/published/``). Installed from a wheel there is no checkout, so ``--dir`` is required; with
``--dir`` the three files go into that directory only, and nothing else is touched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from service.cli.common import EXIT_FAILED, add_command
from service.contracts import published
from service.errors import UsageError


def add_parsers(sub: Any) -> None:
    parser = add_command(sub, "schemas", cmd_schemas, help="write the JSON Schemas and AsyncAPI document")
    parser.add_argument("--dir", type=Path, help="output directory (default, in a checkout: its schemas/)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from the models")


def cmd_schemas(args: argparse.Namespace) -> int:
    if args.dir is not None:
        directories = [args.dir]
    else:
        checkout = published.checkout_dir()
        if checkout is None:
            raise UsageError("not run from a checkout of the project, so there is no schemas/: give --dir DIRECTORY")
        directories = [checkout, published.PACKAGED]
    if args.check:
        drift = [directory / name for directory in directories for name in published.drifted(directory)]
        for path in drift:
            print(f"schema drift: {path} differs from the models (run `moderation schemas`)", file=sys.stderr)
        return EXIT_FAILED if drift else 0
    for directory in directories:
        try:
            written = published.write(directory)
        except OSError as exc:
            raise UsageError(f"cannot write into {directory}: {exc.strerror or exc}") from exc
        for path in written:
            print(path)
    return 0
