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


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--fingerprint", "show_fp", is_flag=True, help="Also print this machine's fingerprint.")
def doctor(as_json: bool, show_fp: bool) -> None:
    """Check what on this machine makes latency measurements noisy."""
    from dataclasses import asdict

    from lutnas.profiler.doctor import run_checks

    results = run_checks()
    if as_json:
        out: dict = {"checks": [asdict(r) for r in results]}
        if show_fp:
            from lutnas.profiler.fingerprint import fingerprint

            out["fingerprint"] = fingerprint()
        _write_json(out, None)
        return
    from rich.console import Console
    from rich.table import Table

    colors = {"ok": "green", "warn": "yellow", "skip": "dim"}
    table = Table("check", "status", "value", "advice", title="lutnas doctor")
    for r in results:
        table.add_row(r.name, f"[{colors[r.status]}]{r.status}[/]", r.value, r.advice)
    Console().print(table)
    if show_fp:
        from lutnas.profiler.fingerprint import fingerprint

        _write_json(fingerprint(), None)


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
