"""The planning rules as request fields: a pydantic model generated from
:class:`gridgeo.rules.Rules`, so that the service offers every rule the library and the
command line take, checked by the same code."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from .._errors import GridgeoError
from ..rules import Rules, rule_fields

__all__ = ["rule_model"]

_NAME = {"min_length": 1, "max_length": 200}
_RULES = frozenset(f.name for f in rule_fields())


def _field(f: Any) -> tuple[Any, Any]:
    """The type and pydantic ``Field`` of one rule."""
    kind, default = f.metadata["kind"], f.default
    desc = f.metadata["help"].replace("%%", "%")
    if kind == "set":
        names = sorted(f.default_factory())
        return list[str], Field(default=names, max_length=200, description=desc)
    if kind == "range":
        return tuple[float, float] | None, Field(default=None, description=desc)
    if kind == "table":
        return dict[str, Any] | None, Field(default=None, description=desc)
    if kind == "crs":
        return int | None, Field(default=None, ge=1024, le=999_999, description=desc)
    if kind == "str":
        kind_type = str if default is not None else str | None
        return kind_type, Field(default=default, **_NAME, description=desc)
    number = {"float": float, "int": int}[kind]
    kind_type = number if default is not None else number | None
    return kind_type, Field(default=default, allow_inf_nan=False, description=desc)


class _RulesChecked(BaseModel):
    """Checks the rule fields with :class:`gridgeo.rules.Rules` (a failed check is a
    422 naming the rule)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _check_rule(cls, value: Any, info: ValidationInfo) -> Any:
        """Each rule checked alone by :class:`~gridgeo.rules.Rules`, so that a 422
        names its field with the message the CLI prints."""
        if info.field_name in _RULES:
            try:
                Rules.from_keywords(**{info.field_name: value})
            except GridgeoError as err:
                raise ValueError(str(err)) from None
        return value

    @model_validator(mode="after")
    def _check_rules(self) -> _RulesChecked:
        try:
            Rules.from_mapping(self.model_dump())
        except GridgeoError as err:
            raise ValueError(str(err)) from None
        return self


def rule_model(name: str, doc: str, **extra: Any) -> type[BaseModel]:
    """A request model holding every planning rule plus ``extra`` fields
    (``name=(type, Field(...))``)."""
    fields = {f.name: _field(f) for f in rule_fields()}
    model = create_model(name, __base__=_RulesChecked, **fields, **extra)
    model.__doc__ = doc
    return model
