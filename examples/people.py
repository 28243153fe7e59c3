"""Synthetic people for the demo agencies: realistic in shape, entirely made up.

Every agency sees the same population: person ``P000123`` is the same person (same name,
same date of birth) at the health department, the school district, human services and the
courts, so federation can join them by id. Each person and each agency record is derived
from ``(seed, agency, index)`` alone and built on first use, so a population of any size
costs nothing to create, the same seed always gives the same people, and an agency starts
without generating anyone.

Ages and dates are relative to :data:`REFERENCE_DATE`, not today, so a seed means the same
data on every day. Names and places are invented; phone numbers are in the 555-01xx range
reserved for fiction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

DEFAULT_COUNT = 10_000
DEFAULT_SEED = 2026
REFERENCE_DATE = date(2026, 1, 1)
ID_PREFIX = "P"
ID_DIGITS = 6

FEMALE_NAMES = (
    "Amara", "Carmen", "Elena", "Grace", "Imani", "Keiko", "Maya", "Olivia", "Quinn", "Rosa",
    "Tala", "Uma", "Wren", "Yara", "Aisha", "Chloe", "Esme", "Gwen", "Ines", "Lena", "Nora",
    "Priya", "Sofia", "Valentina", "Zoe", "Ada",
)  # fmt: skip
MALE_NAMES = (
    "Ben", "Dmitri", "Farid", "Hiro", "Jonah", "Liam", "Nikolai", "Pedro", "Samir", "Victor",
    "Xavier", "Zane", "Bruno", "Diego", "Felix", "Hassan", "Jude", "Kai", "Mateo", "Omar",
    "Rafael", "Theo", "Wei", "Yusuf", "Quentin",
)  # fmt: skip
FAMILY_NAMES = (
    "Abbott", "Baptiste", "Castillo", "Delacroix", "Eriksen", "Fairweather", "Galloway",
    "Haddad", "Ibarra", "Jablonski", "Kowalczyk", "Lindqvist", "Mbeki", "Nakamura", "Okafor",
    "Petrov", "Quintero", "Rasmussen", "Sandoval", "Thorne", "Underhill", "Valdez", "Whitlock",
    "Xiong", "Yilmaz", "Zielinski", "Ashby", "Brennan", "Calloway", "Dunmore", "Ellery",
    "Fenwick", "Greer", "Holloway", "Ingram", "Juarez", "Kendrick", "Lockhart", "Marlowe",
    "Navarro", "Oyelaran", "Pennington", "Ravensworth", "Stroud", "Tremblay", "Vasquez",
    "Winslow", "Yates", "Zamora", "Achterberg",
)  # fmt: skip
STREETS = ("Maple", "Cedar", "Harbor", "Juniper", "Orchard", "Willow", "Granite", "Heron",
           "Lantern", "Meadow", "Quarry", "Sparrow", "Tamarack", "Beacon", "Foxglove")  # fmt: skip
STREET_KINDS = ("Street", "Avenue", "Road", "Lane", "Court", "Way")
CITIES = (
    ("Riverton", "00101"), ("Lakeshire", "00102"), ("Millbrook", "00103"),
    ("Fairhaven", "00104"), ("Stonebridge", "00105"), ("Ashford Hollow", "00106"),
)  # fmt: skip
STATE = "AC"
AREA_CODES = ("201", "305", "412", "503", "617", "720")

FACILITIES = ("Riverton General Hospital", "Lakeshire Community Clinic",
              "Millbrook Family Health Center", "Fairhaven Urgent Care")  # fmt: skip
ENCOUNTER_KINDS = ("outpatient", "emergency", "inpatient", "telehealth")
# ICD-10-CM codes (public classification) for everyday conditions.
DIAGNOSES = (
    ("I10", "Essential (primary) hypertension"),
    ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("J45.909", "Unspecified asthma, uncomplicated"),
    ("E78.5", "Hyperlipidemia, unspecified"),
    ("K21.9", "Gastro-esophageal reflux disease without esophagitis"),
    ("M54.50", "Low back pain, unspecified"),
    ("J06.9", "Acute upper respiratory infection, unspecified"),
    ("E03.9", "Hypothyroidism, unspecified"),
    ("L20.9", "Atopic dermatitis, unspecified"),
    ("S93.401A", "Sprain of unspecified ligament of ankle, initial encounter"),
)
MEDICATIONS = (
    ("lisinopril", "10 mg", "once daily"),
    ("metformin", "500 mg", "twice daily"),
    ("albuterol inhaler", "90 mcg", "as needed"),
    ("atorvastatin", "20 mg", "once daily"),
    ("omeprazole", "20 mg", "once daily"),
    ("levothyroxine", "50 mcg", "once daily"),
    ("amoxicillin", "500 mg", "three times daily for 10 days"),
    ("ibuprofen", "400 mg", "as needed"),
)
BEHAVIORAL = (
    ("F32.9", "Major depressive disorder, single episode, unspecified"),
    ("F41.1", "Generalized anxiety disorder"),
    ("F90.0", "Attention-deficit hyperactivity disorder, predominantly inattentive type"),
    ("F43.10", "Post-traumatic stress disorder, unspecified"),
)
SUBSTANCES = (
    ("F11.20", "Opioid dependence, uncomplicated", "buprenorphine/naloxone"),
    ("F10.20", "Alcohol dependence, uncomplicated", "naltrexone"),
    ("F15.20", "Other stimulant dependence, uncomplicated", None),
)
SUD_PROGRAMS = ("Harbor Recovery Center", "New Dawn Outpatient Program",
                "Cedar House Residential Treatment")  # fmt: skip
THERAPISTS = ("Dr. L. Marlowe", "Dr. A. Okafor", "R. Castillo, LCSW")

SCHOOLS = (
    ("Riverton Elementary", 5, 10),
    ("Lakeshire Elementary", 5, 10),
    ("Millbrook Middle School", 11, 13),
    ("Fairhaven Middle School", 11, 13),
    ("Stonebridge High School", 14, 18),
    ("Ashford Hollow High School", 14, 18),
)
SUBJECTS = ("Mathematics", "English Language Arts", "Science", "Social Studies", "Art")
LETTER_GRADES = ("A", "A-", "B+", "B", "B-", "C+", "C", "D", "F")
DISABILITY_CATEGORIES = ("specific learning disability", "speech or language impairment",
                         "autism", "other health impairment", "emotional disturbance")  # fmt: skip
IEP_SERVICES = ("speech therapy", "occupational therapy", "resource room support",
                "behavioural support", "assistive technology", "counselling")  # fmt: skip

BENEFIT_PROGRAMS = ("SNAP", "TANF", "WIC", "LIHEAP", "MEDICAID")
HOUSING_PROGRAMS = ("Housing Choice Voucher", "Public Housing", "Rapid Re-Housing",
                    "Emergency Shelter")  # fmt: skip
PLACEMENTS = ("relative foster home", "non-relative foster home", "group home")
CASE_WORKERS = ("J. Whitlock", "M. Sandoval", "T. Nakamura", "R. Okafor", "S. Lindqvist")
NOTE_TEXTS = (
    "Home visit completed; household needs reviewed.",
    "Client reported change in income; recertification scheduled.",
    "Referred to local food bank and job readiness programme.",
    "Follow-up call: documents received, application complete.",
    "Safety plan reviewed with caregiver.",
)

COURTS = ("Riverton District Court", "Lakeshire County Court", "Juvenile Court of Ashford")
CASE_KINDS = ("civil", "small claims", "family", "traffic", "criminal misdemeanour")
CASE_STATUSES = ("open", "closed", "dismissed", "settled")
JUVENILE_OFFENCES = ("vandalism", "shoplifting", "truancy", "curfew violation",
                     "possession of alcohol", "simple assault")  # fmt: skip
DISPOSITIONS = ("diversion completed", "probation", "community service", "dismissed")
ORDER_KINDS = ("protective order", "custody order", "child support order",
               "guardianship order", "restraining order")  # fmt: skip


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    state: str
    postal_code: str


@dataclass(frozen=True)
class Person:
    id: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex: str
    address: Address
    phone: str

    @property
    def age(self) -> int:
        return _years_between(self.date_of_birth, REFERENCE_DATE)

    @property
    def is_minor(self) -> bool:
        return self.age < 18


@dataclass(frozen=True)
class Encounter:
    date: date
    facility: str
    kind: str
    reason: str


@dataclass(frozen=True)
class Diagnosis:
    code: str
    description: str
    diagnosed_on: date


@dataclass(frozen=True)
class Medication:
    name: str
    dose: str
    frequency: str
    prescribed_on: date


@dataclass(frozen=True)
class BehavioralHealth:
    code: str
    description: str
    diagnosed_on: date
    in_care: bool


@dataclass(frozen=True)
class SubstanceUseTreatment:
    program: str
    code: str
    description: str
    admitted_on: date
    discharged_on: date | None
    medication: str | None


@dataclass(frozen=True)
class PsychotherapyNote:
    date: date
    clinician: str
    text: str


@dataclass(frozen=True)
class HealthRecord:
    encounters: tuple[Encounter, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    medications: tuple[Medication, ...] = ()
    behavioral_health: tuple[BehavioralHealth, ...] = ()
    substance_use_treatment: tuple[SubstanceUseTreatment, ...] = ()
    psychotherapy_notes: tuple[PsychotherapyNote, ...] = ()


@dataclass(frozen=True)
class Enrolment:
    school: str
    grade_level: int
    enrolled_on: date
    status: str


@dataclass(frozen=True)
class Attendance:
    school_year: str
    days_enrolled: int
    days_absent: int

    @property
    def rate(self) -> float:
        return round((self.days_enrolled - self.days_absent) / self.days_enrolled, 3)


@dataclass(frozen=True)
class Grade:
    subject: str
    term: str
    grade: str


@dataclass(frozen=True)
class SpecialEducationPlan:
    disability_category: str
    services: tuple[str, ...]
    started_on: date
    next_review_on: date


@dataclass(frozen=True)
class EducationRecord:
    enrolment: Enrolment | None = None
    attendance: tuple[Attendance, ...] = ()
    grades: tuple[Grade, ...] = ()
    special_education_plan: SpecialEducationPlan | None = None


@dataclass(frozen=True)
class Benefit:
    program: str
    status: str
    monthly_amount_cents: int
    started_on: date


@dataclass(frozen=True)
class HousingAssistance:
    program: str
    status: str
    started_on: date


@dataclass(frozen=True)
class ChildWelfareCase:
    case_id: str
    status: str
    opened_on: date
    in_foster_care: bool
    placement: str | None
    case_worker: str


@dataclass(frozen=True)
class CaseNote:
    date: date
    author: str
    text: str


@dataclass(frozen=True)
class HumanServicesRecord:
    benefits: tuple[Benefit, ...] = ()
    housing: HousingAssistance | None = None
    child_welfare_case: ChildWelfareCase | None = None
    case_notes: tuple[CaseNote, ...] = ()


@dataclass(frozen=True)
class CourtCase:
    case_number: str
    court: str
    kind: str
    status: str
    filed_on: date


@dataclass(frozen=True)
class JuvenileRecord:
    case_number: str
    offence: str
    disposition: str
    decided_on: date
    sealed: bool


@dataclass(frozen=True)
class CourtOrder:
    order_number: str
    kind: str
    issued_on: date
    expires_on: date | None


@dataclass(frozen=True)
class CourtRecord:
    cases: tuple[CourtCase, ...] = ()
    juvenile_records: tuple[JuvenileRecord, ...] = ()
    orders: tuple[CourtOrder, ...] = ()


@dataclass
class Population:
    """``count`` synthetic people from ``seed``; records are built on first use and cached."""

    count: int = DEFAULT_COUNT
    seed: int = DEFAULT_SEED
    _indexes: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.count < 10**ID_DIGITS:
            raise ValueError(f"population size must be between 1 and {10**ID_DIGITS - 1}")
        # Per-instance caches, so two populations with different seeds never share entries.
        self.person = lru_cache(maxsize=None)(self._person)  # type: ignore[method-assign]
        self.health = lru_cache(maxsize=4096)(self._health)  # type: ignore[method-assign]
        self.education = lru_cache(maxsize=4096)(self._education)  # type: ignore[method-assign]
        self.human_services = lru_cache(maxsize=4096)(self._human_services)  # type: ignore[method-assign]
        self.courts = lru_cache(maxsize=4096)(self._courts)  # type: ignore[method-assign]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Person]:
        for index in range(self.count):
            yield self._person(person_id(index))

    def __contains__(self, pid: object) -> bool:
        return isinstance(pid, str) and self.index_of(pid) is not None

    def index_of(self, pid: str) -> int | None:
        """The index of ``P000123``-style id ``pid`` in this population, or ``None``."""
        digits = pid[len(ID_PREFIX) :]
        if (
            not pid.startswith(ID_PREFIX)
            or len(digits) != ID_DIGITS
            or not digits.isascii()
            or not digits.isdigit()
        ):
            return None
        index = int(digits)
        return index if index < self.count else None

    def ids(self, start: int = 0, stop: int | None = None) -> list[str]:
        stop = self.count if stop is None else min(stop, self.count)
        return [person_id(i) for i in range(max(start, 0), stop)]

    def find(self, predicate: Callable[[str], bool], limit: int = 1) -> list[str]:
        """The first ``limit`` ids (in id order) for which ``predicate(id)`` holds."""
        found: list[str] = []
        for index in range(self.count):
            pid = person_id(index)
            if predicate(pid):
                found.append(pid)
                if len(found) >= limit:
                    break
        return found

    def notable(self) -> dict[str, str]:
        """One id for each kind of person a demo or a test wants to show."""
        wanted: dict[str, Callable[[str], bool]] = {
            "adult": lambda p: not self.person(p).is_minor,
            "minor": lambda p: self.person(p).is_minor,
            "student": lambda p: self.education(p).enrolment is not None,
            "special_education": lambda p: self.education(p).special_education_plan is not None,
            "foster_care": lambda p: _in_foster_care(self.human_services(p)),
            "snap": lambda p: any(b.program == "SNAP" for b in self.human_services(p).benefits),
            "substance_use": lambda p: bool(self.health(p).substance_use_treatment),
            "no_substance_use": lambda p: (
                not self.health(p).substance_use_treatment and bool(self.health(p).diagnoses)
            ),
            "psychotherapy": lambda p: bool(self.health(p).psychotherapy_notes),
            "sealed_juvenile": lambda p: any(r.sealed for r in self.courts(p).juvenile_records),
            "court_order": lambda p: bool(self.courts(p).orders),
        }
        result = {}
        for name, predicate in wanted.items():
            found = self.find(predicate)
            if found:
                result[name] = found[0]
        return result

    def students(self, school: str) -> tuple[str, ...]:
        """Ids of the people enrolled at ``school`` (index built on first call)."""
        if not self._indexes:
            by_school: dict[str, list[str]] = {name: [] for name, _, _ in SCHOOLS}
            for index in range(self.count):
                pid = person_id(index)
                enrolment = self._education(pid).enrolment
                if enrolment is not None:
                    by_school[enrolment.school].append(pid)
            self._indexes.update({name: tuple(ids) for name, ids in by_school.items()})
        return self._indexes.get(school, ())

    # -- generation -------------------------------------------------------------------------

    def _rng(self, kind: str, pid: str) -> random.Random:
        return random.Random(f"{self.seed}:{kind}:{pid}")

    def _person(self, pid: str) -> Person:
        if pid not in self:
            raise KeyError(pid)
        rng = self._rng("person", pid)
        # About a quarter of the population is under 18, as in most service networks.
        age_days = (
            rng.randint(0, 18 * 365) if rng.random() < 0.26 else rng.randint(18 * 365, 90 * 365)
        )
        born = REFERENCE_DATE - timedelta(days=age_days)
        city, postal = rng.choice(CITIES)
        sex = rng.choice(("female", "male"))
        return Person(
            id=pid,
            given_name=rng.choice(FEMALE_NAMES if sex == "female" else MALE_NAMES),
            family_name=rng.choice(FAMILY_NAMES),
            date_of_birth=born,
            sex=sex,
            address=Address(
                line1=f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}",
                city=city,
                state=STATE,
                postal_code=postal,
            ),
            phone=f"({rng.choice(AREA_CODES)}) 555-01{rng.randint(0, 99):02d}",
        )

    def _health(self, pid: str) -> HealthRecord:
        person = self._person(pid)
        rng = self._rng("health", pid)
        if rng.random() < 0.12:
            return HealthRecord()
        born = person.date_of_birth
        # Care records reach back five years, as an electronic record usually does.
        recent = max(born, REFERENCE_DATE - timedelta(days=5 * 365))
        encounters = tuple(
            sorted(
                (
                    Encounter(
                        date=_date_after(rng, recent),
                        facility=rng.choice(FACILITIES),
                        kind=rng.choice(ENCOUNTER_KINDS),
                        reason=rng.choice(DIAGNOSES)[1],
                    )
                    for _ in range(rng.randint(1, 6))
                ),
                key=lambda e: e.date,
            )
        )
        diagnoses = tuple(
            Diagnosis(code=code, description=text, diagnosed_on=_date_after(rng, born))
            for code, text in rng.sample(DIAGNOSES, rng.randint(0, 3))
        )
        medications = tuple(
            Medication(name=n, dose=d, frequency=f, prescribed_on=_date_after(rng, recent))
            for n, d, f in rng.sample(MEDICATIONS, rng.randint(0, 2) if diagnoses else 0)
        )
        behavioral: tuple[BehavioralHealth, ...] = ()
        notes: tuple[PsychotherapyNote, ...] = ()
        if person.age >= 6 and rng.random() < 0.16:
            code, text = rng.choice(BEHAVIORAL)
            behavioral = (
                BehavioralHealth(
                    code=code,
                    description=text,
                    diagnosed_on=_date_after(rng, born),
                    in_care=rng.random() < 0.6,
                ),
            )
            if rng.random() < 0.35:
                clinician = rng.choice(THERAPISTS)
                notes = tuple(
                    PsychotherapyNote(
                        date=_date_after(rng, recent),
                        clinician=clinician,
                        text=f"Session {i + 1}: discussed coping strategies and sleep routine.",
                    )
                    for i in range(rng.randint(1, 3))
                )
        substance: tuple[SubstanceUseTreatment, ...] = ()
        if person.age >= 14 and rng.random() < 0.07:
            code, text, medication = rng.choice(SUBSTANCES)
            admitted = _date_after(rng, born + timedelta(days=14 * 365))
            discharged = None
            if rng.random() < 0.5:
                discharged = min(admitted + timedelta(days=rng.randint(30, 365)), REFERENCE_DATE)
            substance = (
                SubstanceUseTreatment(
                    program=rng.choice(SUD_PROGRAMS),
                    code=code,
                    description=text,
                    admitted_on=admitted,
                    discharged_on=discharged,
                    medication=medication,
                ),
            )
        return HealthRecord(encounters, diagnoses, medications, behavioral, substance, notes)

    def _education(self, pid: str) -> EducationRecord:
        person = self._person(pid)
        rng = self._rng("education", pid)
        age = person.age
        schools = [s for s in SCHOOLS if s[1] <= age <= s[2]]
        if not schools or rng.random() < 0.04:
            return EducationRecord()
        school = rng.choice(schools)[0]
        grade_level = max(0, age - 5)
        enrolled = REFERENCE_DATE.replace(month=8, day=20, year=REFERENCE_DATE.year - 1)
        enrolment = Enrolment(
            school=school,
            grade_level=grade_level,
            enrolled_on=enrolled,
            status="enrolled",
        )
        year = f"{enrolled.year}-{enrolled.year + 1}"
        days = 80
        absent = min(days, int(rng.expovariate(1 / 4)))
        attendance = (Attendance(school_year=year, days_enrolled=days, days_absent=absent),)
        grades = tuple(
            Grade(subject=subject, term=f"{year} fall", grade=rng.choice(LETTER_GRADES))
            for subject in SUBJECTS[: 3 if grade_level < 6 else 5]
        )
        plan = None
        if rng.random() < 0.14:
            started = _date_after(rng, person.date_of_birth + timedelta(days=4 * 365))
            plan = SpecialEducationPlan(
                disability_category=rng.choice(DISABILITY_CATEGORIES),
                services=tuple(rng.sample(IEP_SERVICES, rng.randint(1, 3))),
                started_on=started,
                next_review_on=REFERENCE_DATE + timedelta(days=rng.randint(10, 360)),
            )
        return EducationRecord(enrolment, attendance, grades, plan)

    def _human_services(self, pid: str) -> HumanServicesRecord:
        person = self._person(pid)
        rng = self._rng("human_services", pid)
        born = person.date_of_birth
        benefits: tuple[Benefit, ...] = ()
        if rng.random() < 0.3:
            programs = rng.sample(BENEFIT_PROGRAMS, rng.randint(1, 2))
            benefits = tuple(
                Benefit(
                    program=program,
                    status=rng.choice(("active", "active", "pending", "closed")),
                    monthly_amount_cents=rng.randint(40, 900) * 100,
                    started_on=_date_after(rng, born),
                )
                for program in programs
            )
        housing = None
        if not person.is_minor and rng.random() < 0.08:
            housing = HousingAssistance(
                program=rng.choice(HOUSING_PROGRAMS),
                status=rng.choice(("active", "waitlisted", "closed")),
                started_on=_date_after(rng, born + timedelta(days=18 * 365)),
            )
        welfare = None
        if person.is_minor and rng.random() < 0.09:
            foster = rng.random() < 0.4
            welfare = ChildWelfareCase(
                case_id=f"CW-{rng.randint(100000, 999999)}",
                status=rng.choice(("open", "open", "closed")),
                opened_on=_date_after(rng, born),
                in_foster_care=foster,
                placement=rng.choice(PLACEMENTS) if foster else None,
                case_worker=rng.choice(CASE_WORKERS),
            )
        notes: tuple[CaseNote, ...] = ()
        if benefits or housing or welfare:
            author = welfare.case_worker if welfare else rng.choice(CASE_WORKERS)
            notes = tuple(
                sorted(
                    (
                        CaseNote(date=_date_after(rng, born), author=author, text=text)
                        for text in rng.sample(NOTE_TEXTS, rng.randint(1, 3))
                    ),
                    key=lambda n: n.date,
                )
            )
        return HumanServicesRecord(benefits, housing, welfare, notes)

    def _courts(self, pid: str) -> CourtRecord:
        person = self._person(pid)
        rng = self._rng("courts", pid)
        born = person.date_of_birth
        cases: tuple[CourtCase, ...] = ()
        if person.age >= 18 and rng.random() < 0.12:
            cases = tuple(
                CourtCase(
                    case_number=f"{rng.choice(('CV', 'SC', 'FA', 'TR', 'CR'))}-"
                    f"{rng.randint(2010, 2025)}-{rng.randint(1000, 99999):05d}",
                    court=rng.choice(COURTS[:2]),
                    kind=rng.choice(CASE_KINDS),
                    status=rng.choice(CASE_STATUSES),
                    filed_on=_date_after(rng, born + timedelta(days=18 * 365)),
                )
                for _ in range(rng.randint(1, 2))
            )
        juvenile: tuple[JuvenileRecord, ...] = ()
        if 12 <= person.age <= 30 and rng.random() < 0.06:
            decided = _date_between(
                rng, born + timedelta(days=12 * 365), born + timedelta(days=18 * 365)
            )
            juvenile = (
                JuvenileRecord(
                    case_number=f"JV-{decided.year}-{rng.randint(100, 9999):04d}",
                    offence=rng.choice(JUVENILE_OFFENCES),
                    disposition=rng.choice(DISPOSITIONS),
                    decided_on=decided,
                    sealed=rng.random() < 0.5,
                ),
            )
        orders: tuple[CourtOrder, ...] = ()
        if rng.random() < 0.05:
            issued = _date_after(rng, born)
            orders = (
                CourtOrder(
                    order_number=f"OR-{issued.year}-{rng.randint(100, 9999):04d}",
                    kind=rng.choice(ORDER_KINDS),
                    issued_on=issued,
                    expires_on=issued + timedelta(days=365) if rng.random() < 0.5 else None,
                ),
            )
        return CourtRecord(cases, juvenile, orders)


def person_id(index: int) -> str:
    return f"{ID_PREFIX}{index:0{ID_DIGITS}d}"


def _in_foster_care(record: HumanServicesRecord) -> bool:
    return record.child_welfare_case is not None and record.child_welfare_case.in_foster_care


def _years_between(start: date, end: date) -> int:
    return end.year - start.year - ((end.month, end.day) < (start.month, start.day))


def _date_after(rng: random.Random, start: date) -> date:
    return _date_between(rng, start, REFERENCE_DATE)


def _date_between(rng: random.Random, start: date, end: date) -> date:
    end = min(end, REFERENCE_DATE)
    span = (end - start).days
    return start + timedelta(days=rng.randint(0, span)) if span > 0 else end
