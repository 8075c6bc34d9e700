"""Loader of the built-in GCP accelerator catalog and of user-supplied catalog files.

The built-in data ships inside the package (``ccc/api/data/gcp-catalog.yaml``) and is read with
:mod:`importlib.resources`, so it works from a wheel, a zip or an editable install alike. It is
parsed once per process (``load_builtin_catalog`` is cached) because plans and simulations look
it up many times. A user may replace it with a file of the same schema (``load_catalog_file``),
for example with negotiated prices; both paths validate through :class:`ccc.api.catalog.Catalog`.
Top-level keys that start with ``x-`` only hold YAML anchors and are dropped before validation.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ccc.api.catalog import Catalog
from ccc.api.errors import ConfigError

BUILTIN_CATALOG_RESOURCE = "gcp-catalog.yaml"


@cache
def load_builtin_catalog() -> Catalog:
    """The catalog shipped with ccc, parsed and validated once per process.

    Raises:
        ConfigError: if the shipped data is broken (a packaging bug, never user input).
    """
    text = resources.files("ccc.api").joinpath("data", BUILTIN_CATALOG_RESOURCE).read_text("utf-8")
    return parse_catalog(text, origin=f"built-in {BUILTIN_CATALOG_RESOURCE}")


def load_catalog_file(path: str | Path) -> Catalog:
    """Load a catalog from a YAML file with the same schema as the built-in one.

    Raises:
        ConfigError: the file is missing, is not YAML, or does not match the schema; the message
            names the file and the field path.
    """
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read catalog file {p}: {exc.strerror or exc}; pass an existing YAML file"
        ) from exc
    return parse_catalog(text, origin=str(p))


def parse_catalog(text: str, *, origin: str) -> Catalog:
    """Parse and validate catalog YAML.

    Args:
        text: the YAML document.
        origin: where it came from, used in error messages (a path or ``built-in ...``).

    Raises:
        ConfigError: with ``origin`` and the failing field path in the message.
    """
    try:
        # libyaml's loader when available: ~10x faster, and the catalog is parsed by every plan.
        data: Any = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{origin}{where}: not valid YAML: {problem}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: a catalog is a YAML mapping with provenance, flex_start_discount, "
            "flex_start_discount_note, machine_types and prices"
        )
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = ".".join(str(part) for part in err["loc"])
        where = f"{origin}: {path}" if path else origin
        more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{where}: {err['msg']}{more}") from exc
