"""Identity rules: defaults, priority order, blocked values, identifier extraction."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shoal.identity.identifiers import extract, parse_profile_id, profile_id
from shoal.identity.rules import (
    DEFAULT_TYPES,
    BlockedValue,
    CompiledSettings,
    IdentifierRule,
    IdentitySettings,
    add_defaults,
    insert_rule,
    out_of_the_box,
)


def test_defaults_limits_and_priority() -> None:
    settings = out_of_the_box()
    assert [r.type for r in settings.identifiers] == list(DEFAULT_TYPES)
    assert [r.type for r in settings.identifiers][:2] == ["user_id", "email"]
    tail = [r.type for r in settings.identifiers][2:]
    assert tail == sorted(tail)
    limits = {r.type: r.limit for r in settings.identifiers}
    assert limits["user_id"] == 1 and set(limits.values()) == {1, 5}
    assert settings.rule("group_id", "accounts") is not None


def test_new_type_reshuffles_alphabetically_and_defaults_are_idempotent() -> None:
    rules = insert_rule(out_of_the_box().identifiers, IdentifierRule(type="braze_id"))
    types = [r.type for r in rules]
    assert types.index("braze_id") == types.index("anonymous_id") + 1
    again = add_defaults(IdentitySettings(identifiers=rules))
    assert [r.type for r in again.identifiers] == types


def test_blocked_values_and_bad_rules() -> None:
    compiled = CompiledSettings(out_of_the_box())
    rule = compiled.get("users", "anonymous_id")
    assert rule is not None
    assert rule.blocks("0000-000") and rule.blocks("anonymous") and rule.blocks("-1")
    assert not rule.blocks("a-1")
    with pytest.raises(ValidationError):
        BlockedValue(kind="regex", value="([")
    with pytest.raises(ValidationError):
        IdentifierRule(type="Has Space")
    with pytest.raises(ValidationError):
        IdentitySettings(identifiers=[IdentifierRule(type="x"), IdentifierRule(type="x")])


def test_every_regex_block_of_a_rule_applies() -> None:
    # Each pattern blocks on its own, anchors included; a value matching none passes.
    rule = IdentifierRule(
        type="email",
        blocked=[
            BlockedValue(kind="regex", value="^test@"),
            BlockedValue(kind="regex", value="@example\\.com$"),
            BlockedValue(kind="exact", value="none"),
        ],
    )
    compiled = CompiledSettings(IdentitySettings(identifiers=[rule]))
    found = compiled.get("users", "email")
    assert found is not None
    assert found.blocks("test@shoal.dev") and found.blocks("jane@example.com")
    assert found.blocks("none")
    assert not found.blocks("jane@shoal.dev") and not found.blocks("a-test@shoal.dev")
    msg = {"type": "identify", "userId": "u1", "traits": {"email": "jane@example.com"}}
    users, _accounts, blocked = extract("s", msg, compiled)
    assert blocked == [("email", "jane@example.com")]
    # user_id is not configured here, so it resolves as an auto-added type.
    assert [(i.type, i.value) for i in users] == [("user_id", "u1")]


def test_identifier_cache_keys_are_per_space_and_disabled_types_are_skipped() -> None:
    settings = out_of_the_box()
    rules = [r.model_copy(update={"enabled": r.type != "email"}) for r in settings.identifiers]
    compiled = CompiledSettings(IdentitySettings(identifiers=rules))
    msg = {"type": "identify", "userId": "u1", "traits": {"email": "j@x.io"}}
    first = extract("ws_a:dev", msg, compiled)[0]
    second = extract("ws_a:prod", msg, compiled)[0]
    assert [i.type for i in first] == ["user_id"]
    assert first[0].skey == "ws_a:dev\x1fusers\x1fuser_id\x1fu1"
    assert second[0].skey == "ws_a:prod\x1fusers\x1fuser_id\x1fu1"
    assert compiled.get("users", "email") is None


def test_extraction_follows_the_default_table() -> None:
    compiled = CompiledSettings(out_of_the_box())
    msg = {
        "type": "identify",
        "userId": 42,
        "anonymousId": "anon",
        "traits": {"email": "j@x.io"},
        "context": {
            "device": {"type": "iOS", "id": "D1", "advertisingId": "AD", "adTrackingEnabled": False,
                       "token": "T"},
            "externalIds": [{"id": "z", "type": "Zendesk", "collection": "users",
                             "encoding": "none"},
                            {"id": "missing-encoding", "type": "x", "collection": "users"}],
        },
        "integrations": {"Google Analytics": {"clientId": "GA.1"}},
    }  # fmt: skip
    users, accounts, blocked = extract("s", msg, compiled)
    found = {(i.type, i.value) for i in users}
    assert found == {
        ("user_id", "42"), ("anonymous_id", "anon"), ("email", "j@x.io"), ("ios.id", "D1"),
        ("ios.push_token", "T"), ("ga_client_id", "GA.1"), ("zendesk", "z"),
    }  # fmt: skip
    assert [i.type for i in users][:2] == ["user_id", "email"]
    assert accounts == [] and blocked == []
    msg["context"]["device"]["adTrackingEnabled"] = True
    assert ("ios.idfa", "AD") in {(i.type, i.value) for i in extract("s", msg, compiled)[0]}


def test_profile_ids_round_trip() -> None:
    for pk in (1, 2**40 + 7, 2**63 - 1):
        assert parse_profile_id(profile_id("users", pk)) == ("users", pk)
    assert parse_profile_id("use_!!") is None and parse_profile_id("email:x") is None
