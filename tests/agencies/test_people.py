"""The synthetic population: deterministic for a seed, shared ids, the people demos need."""

from __future__ import annotations

import pytest

from examples.people import DEFAULT_COUNT, REFERENCE_DATE, Population


def test_same_seed_gives_the_same_people_and_records() -> None:
    first, second = Population(count=500, seed=11), Population(count=500, seed=11)
    for pid in first.ids(0, 500):
        assert first.person(pid) == second.person(pid)
        assert first.health(pid) == second.health(pid)
        assert first.education(pid) == second.education(pid)
        assert first.human_services(pid) == second.human_services(pid)
        assert first.courts(pid) == second.courts(pid)


def test_another_seed_gives_other_people() -> None:
    first, second = Population(count=200, seed=1), Population(count=200, seed=2)
    differing = [pid for pid in first.ids() if first.person(pid) != second.person(pid)]
    assert len(differing) > 190


def test_a_larger_population_keeps_the_smaller_ones_people() -> None:
    small, large = Population(count=100, seed=5), Population(count=1000, seed=5)
    assert [small.person(p) for p in small.ids()] == [large.person(p) for p in small.ids()]


def test_ids_are_shared_formatted_and_bounded() -> None:
    people = Population(count=250)
    assert people.ids(0, 3) == ["P000000", "P000001", "P000002"]
    assert "P000249" in people and "P000250" not in people
    for bad in ("P00001", "X000001", "P00000x", "P٠٠٠٠٠١", "", "P0000001"):
        assert bad not in people
    with pytest.raises(KeyError):
        people.person("P000250")


def test_default_population_has_every_kind_of_person_a_demo_shows() -> None:
    people = Population()
    assert len(people) == DEFAULT_COUNT
    notable = people.notable()
    for kind in (
        "minor",
        "student",
        "special_education",
        "foster_care",
        "snap",
        "substance_use",
        "no_substance_use",
        "psychotherapy",
        "sealed_juvenile",
        "court_order",
    ):
        assert kind in notable, kind
    foster = people.human_services(notable["foster_care"]).child_welfare_case
    assert foster is not None and foster.in_foster_care and foster.placement
    assert people.person(notable["foster_care"]).is_minor
    sealed = people.courts(notable["sealed_juvenile"]).juvenile_records
    assert any(record.sealed for record in sealed)
    assert people.health(notable["substance_use"]).substance_use_treatment


def test_minors_are_a_plausible_share_and_records_fit_ages() -> None:
    people = Population(count=2000, seed=3)
    minors = [p for p in people if p.is_minor]
    assert 0.18 < len(minors) / len(people) < 0.35
    for person in people:
        assert person.date_of_birth <= REFERENCE_DATE
        education = people.education(person.id)
        if education.enrolment is not None:
            assert 5 <= person.age <= 18
        if people.human_services(person.id).child_welfare_case is not None:
            assert person.is_minor
        assert not people.health(person.id).substance_use_treatment or person.age >= 14


def test_creating_a_population_generates_nobody_until_asked() -> None:
    people = Population()
    assert people.person.cache_info().currsize == 0
    people.person("P009999")
    assert people.person.cache_info().currsize == 1


@pytest.mark.parametrize("count", [0, -1, 1_000_000])
def test_bad_population_sizes_are_refused(count: int) -> None:
    with pytest.raises(ValueError, match="population size"):
        Population(count=count)
