"""Griffe extension for the docs build: the package's Sphinx cross-reference roles as links.

The docstrings are numpy-style and cross-reference with Sphinx roles (``:func:`~gmmdmft.simulate```,
``:class:`Result```, ``:mod:`.solver```), which mkdocstrings would show verbatim. This extension
rewrites each role, when griffe loads the package, into an optional autorefs link: a link where
the target is on the site, plain code where it is not (a private module), never a warning. The
target is resolved as Sphinx would: absolute (``gmmdmft.x.y``), relative to the module
(``.solver``), or by name in the scope of the object (its class, its module, the module's
imports); ``~`` shows the last component only.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|exc|obj|const):`(~?)([^`<>]+)`")


def resolve(obj, target: str) -> str:
    """The full path that ``target`` names in the docstring of ``obj`` (best effort)."""
    module = obj if obj.is_module else obj.module
    if target.startswith("."):
        base = module.path if module.is_init_module or module.is_package else module.parent.path
        return f"{base}.{target.lstrip('.')}"
    head, _, rest = target.partition(".")
    scopes = [obj] if obj.is_class else []
    if obj.parent is not None:
        scopes.append(obj.parent)
    scopes.append(module)
    for scope in scopes:
        member = scope.members.get(head)
        if member is not None:
            path = member.target_path if member.is_alias else member.path
            return f"{path}.{rest}" if rest else path
    return target


def rewrite(obj, text: str) -> str:
    def link(match: re.Match) -> str:
        short, target = match.group(1) == "~", match.group(2).strip()
        title = target.lstrip(".").rsplit(".", 1)[-1] if short else target.lstrip(".")
        return (f'<autoref identifier="{resolve(obj, target)}" optional>'
                f"<code>{title}</code></autoref>")
    return ROLE.sub(link, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring of the package once it is loaded."""

    def on_package(self, *, pkg, **kwargs) -> None:
        self._visit(pkg, set())

    def _visit(self, obj, seen: set) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj, obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._visit(member, seen)
