"""A griffe extension: turn Sphinx roles in docstrings into mkdocstrings cross-references.

Some docstrings use ``:class:`~adapters.TokenProvider``` or ``:meth:`snapshot``` (Sphinx
roles), which Markdown would show literally. This rewrites each role into an autorefs
link, ``[`TokenProvider`][adapters.TokenProvider]``, resolving a bare name against the
object's class or module, so the API reference links them like the Markdown references.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|obj|mod|exc):`(~?)([\w.]+)`")


def _target(obj: griffe.Object, name: str) -> str | None:
    """The documented path a role names, or None when it cannot be found."""
    if "." in name and name.split(".", 1)[0] == "adapters":
        return name
    scopes = [obj, *_parents(obj)]
    for scope in scopes:
        try:
            member = scope.members.get(name.split(".", 1)[0])
        except AttributeError:
            member = None
        if member is not None:
            return f"{scope.path}.{name}"
    return None


def _parents(obj: griffe.Object) -> list[griffe.Object]:
    found: list[griffe.Object] = []
    parent = obj.parent
    while parent is not None:
        found.append(parent)
        parent = parent.parent
    return found


class RstRoles(griffe.Extension):
    """Rewrites Sphinx roles in every docstring into Markdown cross-references."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrites the roles in ``obj``'s docstring, if it has one."""
        docstring = obj.docstring
        if docstring is None or ":`" not in docstring.value:
            return

        def replace(match: re.Match[str]) -> str:
            short, name = match.group(1), match.group(2)
            shown = name.rsplit(".", 1)[-1] if short else name
            target = _target(obj, name)
            return f"[`{shown}`][{target}]" if target else f"`{shown}`"

        docstring.value = _ROLE.sub(replace, docstring.value)
