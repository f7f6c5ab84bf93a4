"""The base of every model: pydantic, dict-style access, secrets masked in repr."""

from __future__ import annotations

import base64
import os
from typing import Any, ClassVar, Dict, FrozenSet, Iterator, Mapping, Optional, Tuple

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_jsonable_python

_MASK = "***"


def _is_secret_key(key: str) -> bool:
    upper = key.upper()
    return any(word in upper for word in ("KEY", "TOKEN", "SECRET", "PASSWORD"))


def mask(value: Any) -> Any:
    """A value with its secrets replaced by ``***`` (dicts keep non-secret entries)."""
    if isinstance(value, dict):
        return {
            k: (_MASK if _is_secret_key(str(k)) or str(v).startswith("phm_") else v)
            for k, v in value.items()
        }
    if value is None:
        return None
    return _MASK


class PaddockModel(BaseModel):
    """A record of the API. Attributes are snake_case; ``model["wireName"]``
    and ``model.get("wireName")`` read by the wire name too, so code written
    for dict answers keeps working."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=False)

    _secret_fields: ClassVar[FrozenSet[str]] = frozenset()

    def __repr_args__(self) -> Iterator[Tuple[Any, Any]]:
        for name, value in super().__repr_args__():
            if name in self._secret_fields:
                yield name, mask(value)
            else:
                yield name, value

    def _field_for(self, key: str) -> str:
        fields = type(self).model_fields
        if key in fields:
            return key
        for name, info in fields.items():
            if info.alias == key:
                return name
        extra = self.__pydantic_extra__ or {}
        if key in extra:
            return key
        raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, self._field_for(key))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self._field_for(key)
        except KeyError:
            return False
        return True

    def get(self, key: str, default: Any = None) -> Any:
        """The field named ``key`` (attribute or wire name), else ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> Dict[str, Any]:
        """The record as JSON-ready values under the wire names; bytes (such
        as ``LogChunk.data``) become standard base64 strings, as on the wire."""
        return _jsonable(self.model_dump(by_alias=True))  # type: ignore[no-any-return]


class SessionMixin:
    """Helpers of :class:`paddock.models.Session`."""

    def subprocess_env(self, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        """The environment for ``subprocess``: ``base`` (default ``os.environ``)
        with the session's phantom tokens and base URLs over it.

        ``subprocess.run(["python3", "agent.py"], env=session.subprocess_env())``
        """
        env: Dict[str, str] = dict(os.environ if base is None else base)
        env.update(getattr(self, "env"))
        return env


class ExecResultMixin:
    """Helpers of :class:`paddock.models.ExecResult`."""

    @property
    def ok(self) -> bool:
        """Exited with 0, not timed out, not killed for memory, not cancelled."""
        return (
            getattr(self, "exit_code") == 0
            and not getattr(self, "timed_out")
            and not getattr(self, "oom_killed")
            and not getattr(self, "cancelled")
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return to_jsonable_python(value)
