"""The `lutnas` command line: composes the stages; nothing imports this module.

Commands stay thin: parse options, call one entry point of a stage, print. Heavy imports happen
inside the commands so `lutnas --help` is instant. A `LutnasError` becomes one line on stderr and
a non-zero exit; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lutnas.errors import LutnasError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lutnas")
def cli() -> None:
    """Latency lookup tables for hardware-aware NAS, lowered and timed with Apache TVM."""


def _write_json(obj: object, out: Path | None) -> None:
    text = json.dumps(obj, indent=2)
    if out is None:
        click.echo(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


# ---- spaces -------------------------------------------------------------------------------------

# ---- lowering -----------------------------------------------------------------------------------

# ---- profiling and tables -----------------------------------------------------------------------

# ---- search -------------------------------------------------------------------------------------

# ---- export, run and boards ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, standalone_mode=False)
    except LutnasError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted; measured data is kept, re-run to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
