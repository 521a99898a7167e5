from __future__ import annotations

from geo.lookup.memo import SnapshotMemo


class Snapshot:
    """Something compared by identity, as hierarchies and alias indexes are."""


def memo(max_bytes: int = 100) -> SnapshotMemo[bytes]:
    return SnapshotMemo(max_bytes=max_bytes, size=len)


def test_an_answer_is_reused_only_for_the_objects_it_came_from() -> None:
    """Same owner and witness: the answer; another witness (aliases edited) or owner: nothing."""
    remembered = memo()
    owner, witness = Snapshot(), Snapshot()
    remembered.put(owner, witness, "gasabo", b"R111")
    assert remembered.get(owner, witness, "gasabo") == b"R111"
    assert remembered.get(owner, Snapshot(), "gasabo") is None
    assert remembered.get(Snapshot(), witness, "gasabo") is None
    assert remembered.get(owner, witness, "kicukiro") is None


def test_a_new_snapshot_empties_the_memo() -> None:
    """The first answer from a new owner drops every answer of the old one (no old snapshot kept)."""
    remembered = memo()
    old, new, witness = Snapshot(), Snapshot(), Snapshot()
    remembered.put(old, witness, "a", b"1")
    remembered.put(old, witness, "b", b"2")
    remembered.put(new, witness, "a", b"3")
    assert len(remembered) == 1
    assert remembered.get(old, witness, "b") is None
    assert remembered.get(new, witness, "a") == b"3"


def test_the_least_recently_used_answers_go_first_past_the_byte_limit() -> None:
    """At most max_bytes are kept; a read makes an answer recent; one too big is not kept."""
    remembered = memo(max_bytes=10)
    owner, witness = Snapshot(), Snapshot()
    for key in "abc":
        remembered.put(owner, witness, key, b"xxx")  # 9 bytes
    assert remembered.get(owner, witness, "a") == b"xxx"  # now the most recent
    remembered.put(owner, witness, "d", b"xxx")  # 12 > 10: "b", the oldest, goes
    assert remembered.get(owner, witness, "b") is None
    assert [remembered.get(owner, witness, k) for k in "acd"] == [b"xxx"] * 3
    remembered.put(owner, witness, "huge", b"x" * 11)
    assert remembered.get(owner, witness, "huge") is None
    assert len(remembered) == 3
    remembered.put(owner, witness, "a", b"y")  # replaced, counted once
    assert remembered.get(owner, witness, "a") == b"y"
    remembered.clear()
    assert len(remembered) == 0
