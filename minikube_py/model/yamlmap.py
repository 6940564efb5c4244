"""A YAML document that must be a mapping at its top level: a kubeconfig, a settings file.

Both are read the same way and refused for the same reasons, in the same words; the caller prefixes
the file the document came from. An empty document is an empty mapping, as PyYAML reads it as null.
"""

from __future__ import annotations

from typing import Any

import yaml


def load_mapping(text: str, what: str) -> dict[str, Any]:
    """``text`` parsed as YAML; ValueError when it is not YAML or its top level is not ``what`` (a
    mapping, described for the message)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"expected {what} at the top level")
    return data
