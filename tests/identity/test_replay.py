"""Re-resolution rebuilds a space's profiles from stored events with the current rules."""

from __future__ import annotations

from pathlib import Path

from shoal.identity.replay import replay
from shoal.identity.rules import IdentitySettings, out_of_the_box
from tests.identity.helpers import WS, event, identity

SPACE = f"{WS}:dev"


async def test_new_rules_apply_to_history_after_replay(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        events = [
            event("identify", userId="u1", anonymousId="kiosk", ts=1_000),
            event("identify", userId="u2", anonymousId="kiosk", ts=2_000),
        ]
        await svc.stage.process(events)
        await svc.store.store.write(events)
        assert events[0].profile_id != events[1].profile_id  # user_id limit 1
        # Allow two user ids per profile: only history replayed through resolution merges.
        rules = [
            r.model_copy(update={"limit": 2}) if r.type == "user_id" else r
            for r in out_of_the_box().identifiers
        ]
        svc.save(WS, "dev", IdentitySettings(identifiers=rules))
        one = await svc.store.canonical(SPACE, "users", "user_id", "u1")
        two = await svc.store.canonical(SPACE, "users", "user_id", "u2")
        assert one != two
        result = await replay(svc, WS, "dev")
        assert result.events == 2 and result.profiles == 1
        one = await svc.store.canonical(SPACE, "users", "user_id", "u1")
        two = await svc.store.canonical(SPACE, "users", "user_id", "u2")
        assert one == two
        stored = await svc.store.store.query("SELECT DISTINCT profile_id FROM events")
        assert len(stored) == 1 and stored[0][0] is not None
        page = await svc.store.events(SPACE, one or 0, limit=10)
        assert len(page.events) == 2
