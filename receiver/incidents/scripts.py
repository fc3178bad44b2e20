"""The Lua scripts that make ingest and transitions atomic, loaded from package files."""

from __future__ import annotations

from importlib.resources import files

INGEST = files(__package__).joinpath("ingest.lua").read_text(encoding="utf-8")
TRANSITION = files(__package__).joinpath("transition.lua").read_text(encoding="utf-8")
