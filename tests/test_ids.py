"""core.ids: prefixed random ids of fixed length over the base-62 alphabet."""

from collections import Counter

from core.ids import BASE62, new_click_id, random_base62


def test_ids_have_fixed_length_and_only_base62_characters():
    ids = [new_click_id() for _ in range(2000)]
    assert all(len(i) == 26 and i.startswith("clk_") for i in ids)
    assert all(set(i[4:]) <= set(BASE62) for i in ids)
    assert len(set(ids)) == len(ids)


def test_every_character_is_drawn_evenly_in_every_position():
    # 62 symbols × 3000 draws: each symbol ~48 times per position; a biased or truncated
    # conversion (e.g. leading positions stuck at 0) falls far outside these bounds.
    draws = [random_base62(22) for _ in range(3000)]
    for position in (0, 11, 21):
        counts = Counter(draw[position] for draw in draws)
        assert len(counts) == 62
        assert min(counts.values()) >= 15 and max(counts.values()) <= 90
