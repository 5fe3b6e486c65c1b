"""``zappa_settings.json`` as Zappa reads it, for every tool and test: one stage's merged
settings (``extends`` applied) through Zappa's own CLI object, without any AWS call."""

from __future__ import annotations

import functools

from devtools import ROOT

SETTINGS = ROOT / "zappa_settings.json"


def stage_cli(stage: str):
    """Zappa's CLI object with ``zappa_settings.json`` loaded for ``stage`` (no AWS call)."""
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_settings(str(SETTINGS))
    return cli


@functools.cache
def stage_config(stage: str) -> dict:
    """The stage's settings as Zappa merges them (``extends`` applied)."""
    return dict(stage_cli(stage).stage_config)


def zappa_settings_source(stage: str) -> str:
    """The ``zappa_settings.py`` Zappa would put in the package for ``stage``."""
    return stage_cli(stage).get_zappa_settings_string()
