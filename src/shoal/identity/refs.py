"""How users name a profile: ``<id_type>:<value>`` or a public profile id (``use_…``/``acc_…``).

Shared by the Profile API and per-profile re-resolution, so both accept and refuse the
same spellings.
"""

from __future__ import annotations

from shoal.identity.identifiers import parse_profile_id

REF_HELP = (
    "the profile is named <id_type>:<value> (e.g. email:jane@example.com) or by its profile id"
)
"""The message of a malformed reference."""


class BadRef(ValueError):
    """A profile reference that is neither ``<id_type>:<value>`` nor a profile id."""


def parse_ref(text: str, collection: str) -> int | tuple[str, str]:
    """The profile number of a profile id of ``collection``, or ``(id_type, value)``.

    The id type is lower-cased (types are stored lower-case); the value is kept as sent.
    A profile id of the other collection is read as an identifier and so finds nothing.
    """
    parsed = parse_profile_id(text)
    if parsed is not None and parsed[0] == collection:
        return parsed[1]
    id_type, sep, value = text.partition(":")
    if not sep or not id_type.strip() or not value:
        raise BadRef(REF_HELP)
    return id_type.strip().lower(), value
