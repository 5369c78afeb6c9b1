"""The canonical form's nesting bound at its edge (service/core/canonical.py, MAX_DEPTH).

The decoder refuses events nested deeper than the record limits long before this, so only a direct caller
(the signer, `moderation sign`) reaches it; mutation testing showed the bound itself was never probed.
"""

from __future__ import annotations

import pytest

from service.core.canonical import MAX_DEPTH, CanonicalError, canonical_bytes


def nested(levels: int, container: str) -> dict:
    """An event whose deepest value sits ``levels`` containers down (the event's own values are level 1)."""
    value: object = 1
    for _ in range(levels - 1):
        value = {"a": value} if container == "dict" else [value]
    return {"v": value}


@pytest.mark.parametrize("container", ["dict", "list"])
def test_nesting_up_to_the_bound_is_signed_and_one_more_level_is_refused(container: str) -> None:
    assert canonical_bytes(nested(MAX_DEPTH, container)).startswith(b'{"v":')
    with pytest.raises(CanonicalError, match=f"nested deeper than {MAX_DEPTH} levels"):
        canonical_bytes(nested(MAX_DEPTH + 1, container))


def test_what_has_no_canonical_form_is_named() -> None:
    with pytest.raises(CanonicalError, match="an event must be a JSON object, not list"):
        canonical_bytes([1])  # type: ignore[arg-type]
    with pytest.raises(CanonicalError, match="tuple is not a JSON value"):
        canonical_bytes({"t": (1, 2)})
    with pytest.raises(CanonicalError, match="cannot be put in canonical form"):
        canonical_bytes({"s": "\ud800"})
