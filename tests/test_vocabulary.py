import pytest

from ledger.vocabulary import (
    CATEGORIES,
    VocabularyError,
    ancestors,
    check_category,
    check_purpose,
    covers,
)


def test_every_category_has_its_parent():
    for name in CATEGORIES:
        for parent in ancestors(name)[1:]:
            assert parent in CATEGORIES, f"{name} lacks parent {parent}"


def test_hierarchical_cover():
    assert covers("health", "health.substance_use")
    assert covers("health.substance_use", "health.substance_use")
    assert not covers("health.substance_use", "health")
    assert not covers("health", "healthcare")


def test_unknown_codes_are_refused():
    with pytest.raises(VocabularyError, match="purpose"):
        check_purpose("SNOOP")
    with pytest.raises(VocabularyError, match="category"):
        check_category("health.gossip")
    assert check_purpose("TREAT") == "TREAT"
