"""Property: no request to the edge, however malformed, gets a 5xx or loses an event."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.inprocess import App, basic

PATHS = ["track", "t", "identify", "page", "screen", "group", "alias", "batch", "b", "import", "m"]
scalars = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text()
)
keys = st.text().filter(lambda k: k != "messageId")
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(PATHS),
    body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: repr(v).encode())),
    encoding=st.sampled_from([None, "gzip", "deflate", "br", "identity", "GZIP"]),
    content_type=st.one_of(st.none(), header_values),
    authorization=st.one_of(st.none(), header_values, st.just("Basic !!!"), st.just("Basic ")),
)
def test_arbitrary_requests_never_5xx(
    app: App,
    path: str,
    body: bytes,
    encoding: str | None,
    content_type: str | None,
    authorization: str | None,
) -> None:
    headers = {}
    if encoding:
        headers["Content-Encoding"] = encoding
    if content_type:
        headers["Content-Type"] = content_type
    if authorization is not None:
        headers["Authorization"] = authorization
    response = app.client.post(f"/v1/{path}", content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        payload = response.json()
        assert set(payload) == {"code", "message"}


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=json_values, batch=st.lists(json_values, max_size=5))
def test_any_json_with_a_valid_key_is_accepted_and_kept(
    app: App, message: object, batch: list[object]
) -> None:
    source = _fuzz_source(app)
    single = app.client.post("/v1/track", json=message, headers=basic(source["write_key"]))
    # Only a JSON object is a message; anything else is refused outright.
    assert single.status_code == (200 if isinstance(message, dict) else 400)
    if single.status_code == 200:
        _acknowledged.append("single")
    many = app.client.post("/v1/batch", json={"batch": batch}, headers=basic(source["write_key"]))
    assert many.status_code == 200
    _acknowledged.extend("batch item" for _ in batch)


_sources: dict[str, dict[str, str]] = {}
_acknowledged: list[str] = []


def _fuzz_source(app: App) -> dict[str, str]:
    if "fuzz" not in _sources:
        _sources["fuzz"] = app.source("fuzz")
    return _sources["fuzz"]


def test_every_accepted_fuzz_event_was_stored(app: App) -> None:
    """Runs after the fuzzers in this module: what got a 200 is all in the store."""
    source = _fuzz_source(app)
    assert _acknowledged, "the fuzzer above ran first"
    stored = app.events(source["id"], len(_acknowledged))
    # Generated messages carry no messageId key, so nothing is deduplicated away.
    assert len(stored) == len(_acknowledged)
    status = app.client.get("/api/v1/status", headers=app.auth).json()
    assert status["pipeline"]["failures"] == 0
