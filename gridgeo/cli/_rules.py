"""The planning rules on the command line: one flag per field of
:class:`gridgeo.rules.Rules`, generated from its definition, for every subcommand that
draws grids (``partition``, ``rebalance``).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..rules import RULE_GROUPS, Rules, rule_fields

__all__ = ["add_rule_arguments", "flag_of", "rules_from_args"]

_TYPES = {"float": float, "int": int}


def flag_of(name: str) -> str:
    """The command-line flag of rule ``name`` (``households_column`` →
    ``--households-column``)."""
    for f in rule_fields():
        if f.name == name:
            return f.metadata["flag"] or "--" + name.replace("_", "-")
    raise KeyError(name)


def add_rule_arguments(
    parser: argparse.ArgumentParser, *, help_overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    """Add a flag for every planning rule to ``parser``, in argument groups by topic;
    returns the groups by key (``grids``, ``households``, ``communities``, ``rules``) so
    that a subcommand may add its layer options beside the rules they go with.

    A flag left out keeps the rule's default (:class:`gridgeo.rules.Rules`); read the
    parsed arguments with :func:`rules_from_args`.
    """
    overrides = help_overrides or {}
    groups = {key: parser.add_argument_group(title) for key, title in RULE_GROUPS.items()}
    for f in rule_fields():
        meta = f.metadata
        groups[meta["group"]].add_argument(
            flag_of(f.name),
            dest=f.name,
            metavar=meta["metavar"],
            type=_TYPES.get(meta["kind"], str),
            default=argparse.SUPPRESS,
            help=overrides.get(f.name, meta["help"]),
        )
    return groups


def rules_from_args(args: argparse.Namespace, **fixed: Any) -> Rules:
    """The :class:`~gridgeo.rules.Rules` of parsed arguments (flags given on the command
    line replace the defaults; ``fixed`` replaces both)."""
    return Rules.from_keywords(Rules.from_mapping(vars(args)), **fixed)
