"""Row generator for demo data: pure Python, no database access.

Everything is drawn from one ``random.Random(seed)`` in a fixed order, so the same plan gives
the same rows. Rows are plain tuples in the column order of ``TABLE_FIELDS`` (Django attribute
names); primary keys are assigned here from the bases in the plan, so foreign keys need no
read-back. Values are already in a form both SQLite and PostgreSQL accept: ISO date strings,
JSON text, booleans, and one timestamp value prepared by the writer.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, TypeVar

from edureg.core.codelists import CodeEntry, CodeList
from edureg.core.text import fold_diacritics, name_match_key, vietnamese_sort_key
from edureg.seeding.names import NamePicker, WeightedChoice, misspell, typo
from edureg.seeding.options import ProblemRates
from edureg.seeding.places import PlacePicker

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

__all__ = [
    "TABLE_FIELDS",
    "TABLE_ORDER",
    "Batch",
    "CodeLists",
    "DemoLogin",
    "GenerationPlan",
    "generate",
]

Row = tuple[Any, ...]
T = TypeVar("T")

# Write order respects foreign keys.
TABLE_ORDER: Final = (
    "schools.Authority", "schools.School", "schools.SchoolYear", "access.User",
    "registry.Staff", "registry.SchoolClass", "access.Membership", "registry.Assignment",
    "registry.Student", "registry.Guardian", "registry.StudentGuardian", "registry.Enrolment",
    "registry.EnrolmentStatusChange",
)

TABLE_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "schools.Authority": ("id", "code", "name", "province_code", "admin_units_version"),
    "schools.School": ("id", "authority_id", "code", "name", "level", "ownership",
                       "commune_code", "admin_units_version", "address", "is_active"),
    "schools.SchoolYear": ("id", "school_id", "start_year", "starts_on", "ends_on", "status"),
    "access.User": ("id", "password", "last_login", "is_superuser", "username", "first_name",
                    "last_name", "email", "is_staff", "is_active", "date_joined", "full_name",
                    "must_change_password"),
    "registry.Staff": (
        "id", "full_name", "name_sort_key", "name_match_key", "school_id", "user_id",
        "education_id", "date_of_birth", "sex", "ethnicity_code", "religion_code",
        "nationality_code", "personal_id_number", "phone", "email", "job_position_code",
        "position_group_code", "employment_status_code", "subject_codes", "qualification_code",
        "code_versions", "created_at", "updated_at",
    ),
    "registry.SchoolClass": ("id", "school_id", "school_year_id", "name", "grade", "age_group",
                             "homeroom_teacher_id"),
    "access.Membership": ("id", "user_id", "role", "authority_id", "school_id", "starts_on",
                          "ends_on"),
    "registry.Assignment": ("id", "staff_id", "school_id", "school_year_id", "duty",
                            "school_class_id", "subject_code", "starts_on", "ends_on"),
    "registry.Student": (
        "id", "full_name", "name_sort_key", "name_match_key", "school_id", "current_class_id",
        "education_id", "temporary_code", "date_of_birth", "sex", "ethnicity_code",
        "religion_code", "nationality_code", "personal_id_number", "birthplace_text",
        "birthplace_province", "birthplace_commune", "birthplace_legacy_province",
        "birthplace_legacy_district", "birthplace_legacy_ward", "hometown_text",
        "hometown_province", "hometown_commune", "hometown_legacy_province",
        "hometown_legacy_district", "hometown_legacy_ward", "permanent_address",
        "permanent_province", "permanent_commune", "current_address", "current_province",
        "current_commune", "phone", "disability_code", "policy_group_code", "code_versions",
        "merged_into_id", "merged_at", "created_at", "updated_at",
    ),
    "registry.Guardian": ("id", "full_name", "name_sort_key", "name_match_key", "school_id",
                          "birth_year", "occupation", "phone", "personal_id_number",
                          "created_at", "updated_at"),
    "registry.StudentGuardian": ("id", "student_id", "guardian_id", "relation_code",
                                 "is_primary_contact"),
    "registry.Enrolment": ("id", "student_id", "school_id", "school_year_id", "school_class_id",
                           "grade", "status_code", "status_since", "is_current", "started_on",
                           "ended_on"),
    "registry.EnrolmentStatusChange": ("id", "enrolment_id", "status_code", "effective_on",
                                       "note", "recorded_at", "recorded_by_id"),
}
_STUDENT_ROW = itemgetter(*TABLE_FIELDS["registry.Student"])

# Register rows (see edureg.seeding.register for the schema).
PERSON_FIELDS: Final = (
    "personal_id_number", "full_name", "date_of_birth", "sex", "birth_registration_place",
    "birthplace_text", "ethnicity_code", "religion_code", "nationality_code",
    "permanent_address", "permanent_province", "permanent_commune", "father_full_name",
    "mother_full_name", "kind",
)
PROBLEM_FIELDS: Final = ("kind", "entity", "record_id", "other_record_id", "field", "detail")

_LEVEL_WEIGHTS: Final = WeightedChoice([
    ("tieu_hoc", 46), ("thcs", 30), ("thpt", 12), ("mam_non", 6), ("lien_cap", 6),
])
_LEVEL_PREFIX: Final = {
    "mam_non": "Trường Mầm non", "tieu_hoc": "Trường Tiểu học", "thcs": "Trường THCS",
    "thpt": "Trường THPT", "lien_cap": "Trường Tiểu học, THCS và THPT",
}
_NAMESAKES: Final = (
    "Lê Quý Đôn", "Nguyễn Bỉnh Khiêm", "Trần Hưng Đạo", "Chu Văn An", "Nguyễn Du", "Lê Lợi",
    "Quang Trung", "Võ Thị Sáu", "Kim Đồng", "Lương Thế Vinh", "Nguyễn Trãi", "Phan Chu Trinh",
    "Phan Bội Châu", "Hai Bà Trưng", "Lý Thường Kiệt", "Trần Quốc Toản", "Nguyễn Thị Minh Khai",
    "Bùi Thị Xuân", "Đinh Tiên Hoàng", "Ngô Quyền", "Nguyễn Huệ", "Lê Văn Tám", "Trưng Vương",
    "Hùng Vương", "Nguyễn Văn Trỗi", "Võ Trường Toản", "Trần Đại Nghĩa", "Lê Hồng Phong",
    "Nguyễn Khuyến", "Tô Hiến Thành", "Huỳnh Thúc Kháng", "Nguyễn Đình Chiểu", "Trần Phú",
    "Nguyễn Hiền", "Mạc Đĩnh Chi", "Đoàn Thị Điểm", "Hoà Bình", "Hoa Sen", "Sơn Ca", "Họa Mi",
)
_PRIVATE_NAMES: Final = (
    "Việt Úc", "Ngôi Sao", "Á Châu", "Quốc tế Việt Mỹ", "Hoàng Gia", "Tuệ Đức", "Trí Việt",
    "Thái Bình Dương", "Đinh Thiện Lý", "Vinschool",
)
_OCCUPATIONS: Final = WeightedChoice([
    ("Công nhân", 16), ("Buôn bán", 14), ("Kinh doanh", 8), ("Nội trợ", 9),
    ("Nhân viên văn phòng", 12), ("Công chức", 5), ("Giáo viên", 3), ("Lao động tự do", 10),
    ("Tài xế", 4), ("Kỹ sư", 3), ("Bác sĩ", 1), ("Điều dưỡng", 1), ("Nông dân", 3),
    ("Thợ may", 2), ("Thợ hồ", 2), ("Bảo vệ", 1), ("Kế toán", 2), ("", 8),
])
_MOBILE_PREFIXES: Final = (
    "090", "091", "093", "094", "096", "097", "098", "032", "033", "034", "035", "036", "037",
    "038", "039", "070", "076", "077", "078", "079", "081", "082", "083", "084", "085", "086",
    "088", "089", "056", "058", "059",
)
_ETHNICITY: Final = WeightedChoice([
    ("01", 93.4), ("06", 4.6), ("05", 0.8), ("14", 0.25), ("02", 0.2), ("07", 0.2),
    ("04", 0.15), ("03", 0.1), ("22", 0.1), ("31", 0.05), ("09", 0.05), ("10", 0.02),
    ("11", 0.02), ("20", 0.02), ("28", 0.02),
])
_RELIGION: Final = WeightedChoice([
    ("00", 79.0), ("01", 11.0), ("02", 7.0), ("04", 0.8), ("03", 0.7), ("05", 0.3),
    ("06", 0.1), ("08", 0.05), ("99", 0.05),
])
_DISABILITY: Final = WeightedChoice([
    ("00", 98.5), ("01", 0.3), ("02", 0.3), ("03", 0.2), ("04", 0.2), ("05", 0.4), ("06", 0.1),
])
_POLICY_GROUP: Final = WeightedChoice([
    ("00", 94.0), ("07", 2.0), ("08", 2.0), ("11", 1.0), ("12", 0.5), ("02", 0.2),
    ("01", 0.05), ("10", 0.15), ("99", 0.1),
])
# Subjects a primary homeroom teacher teaches to their own class.
_PRIMARY_CORE: Final = frozenset({
    "toan", "tieng_viet", "dao_duc", "tu_nhien_xa_hoi", "khoa_hoc", "lich_su_dia_li",
    "hoat_dong_trai_nghiem", "cong_nghe",
})
# Subjects taught only from certain grades (Circular 32/2018 programme).
_FROM_GRADE: Final = {"tin_hoc": 3, "cong_nghe": 3, "khoa_hoc": 4, "lich_su_dia_li": 4}
_UNTIL_GRADE: Final = {"tu_nhien_xa_hoi": 3}
# Rarely staffed; leaving them out keeps the subject-teacher count realistic.
_SKIPPED_SUBJECTS: Final = frozenset({"ngoai_ngu_khac", "tieng_dan_toc", "giao_duc_dia_phuong"})
# The preschool classes drawn, by the word of their name in the ``preschool_age_group`` list.
_PRESCHOOL_GROUPS: Final = ("Lá", "Chồi", "Mầm")
_CLASSES_PER_SUBJECT_TEACHER: Final = {"primary": 10, "secondary": 7}


@dataclass(frozen=True, slots=True)
class CodeLists:
    """The code lists a run draws from, pinned to one version each."""

    province: CodeList
    commune: CodeList
    legacy_province: CodeList
    legacy_district: CodeList
    legacy_ward: CodeList
    school_level: CodeList
    subject: CodeList
    job_position: CodeList
    enrolment_status: CodeList
    guardian_relation: CodeList
    preschool_age_group: CodeList
    versions: dict[str, str]

    def code_named(self, list_name: str, name: str) -> str:
        code_list: CodeList = getattr(self, list_name)
        entry = code_list.match(name)
        if entry is None:
            raise LookupError(f"code list {list_name} has no entry named {name!r}")
        return entry.code


@dataclass(frozen=True, slots=True)
class GenerationPlan:
    seed: int
    schools: int
    students_per_school: int
    rates: ProblemRates
    start_year: int
    province_code: str
    authority_code: str
    authority_name: str
    # First primary key to use per table ("app.Model" → id).
    id_bases: dict[str, int]
    demo_password_hash: str
    # One timestamp for every created_at/updated_at/date_joined, in the writer's format.
    timestamp: object
    chunk_students: int = 25_000
    subject_code_max_length: int = 20


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    role: str
    school: str


@dataclass
class Batch:
    rows: dict[str, list[Row]] = field(default_factory=lambda: {name: [] for name in TABLE_ORDER})
    persons: list[Row] = field(default_factory=list)
    problems: list[Row] = field(default_factory=list)
    demo_logins: list[DemoLogin] = field(default_factory=list)
    students: int = 0
    # Filled where the register file is written: persons and problems by kind.
    register_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _SchoolRef:
    school_id: int
    code: str
    name: str
    demo: bool


@dataclass(slots=True)
class _Family:
    family_name: str
    guardians: list[tuple[int, str, bool]]
    father_name: str
    mother_name: str
    permanent_address: str
    permanent_commune: str
    phone: str
    grade: int


@dataclass(slots=True)
class _Snapshot:
    """A pupil as really born, kept so the same child can be entered again elsewhere."""

    student_id: int
    school_id: int
    class_id: int
    grade: int
    row: dict[str, Any]
    guardians: list[tuple[int, Row, str, bool]]


class FastRandom(random.Random):
    """``random.Random`` with choices drawn from one ``random()`` call each.

    The stdlib's ``choice``/``randint`` go through ``_randbelow`` in Python and cost several
    times more; at millions of rows that is minutes. Still fully determined by the seed.
    """

    def choice(self, seq: SupportsLenAndGetItem[T]) -> T:
        return seq[int(self.random() * len(seq))]

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def below(self, n: int) -> int:
        return int(self.random() * n)


class _Generator:
    def __init__(self, plan: GenerationPlan, lists: CodeLists) -> None:
        self.plan = plan
        self.lists = lists
        self.rng = FastRandom(plan.seed)
        self.days_of_year: dict[int, list[str]] = {}
        self.names = NamePicker(self.rng)
        self.places = PlacePicker(
            province_code=plan.province_code, communes=lists.commune,
            legacy_provinces=lists.legacy_province, legacy_districts=lists.legacy_district,
            legacy_wards=lists.legacy_ward,
        )
        self.next_id = dict(plan.id_bases)
        self.batch = Batch()
        self.name_keys: dict[str, tuple[str, str]] = {}
        self.id_counts: dict[int, int] = {}
        self.education_counter = 0
        self.temporary_counter = 0
        self.username_counts: dict[str, int] = {}
        self.used_school_names: set[str] = set()
        self.reservoir: dict[int, list[_Snapshot]] = {}
        self.ts = plan.timestamp
        self.year_start = dt.date(plan.start_year, 9, 5)
        self.year_end = dt.date(plan.start_year + 1, 5, 31)
        # Staff are assigned in the August preparation weeks, so assignments are current from
        # the first day the demo can run in a new school year.
        self.assigned_on = dt.date(plan.start_year, 8, 1).isoformat()
        self.studying = lists.code_named("enrolment_status", "Đang học")
        self.relation = {
            name: lists.code_named("guardian_relation", name) for name in ("Cha", "Mẹ", "Ông", "Bà")
        }
        self.student_versions = json.dumps({
            name: lists.versions[name] for name in (
                "sex", "ethnicity", "religion", "nationality", "province", "commune",
                "legacy_province", "legacy_district", "legacy_ward", "disability",
                "policy_group", "enrolment_status",
            )
        }, sort_keys=True, ensure_ascii=False)
        self.staff_versions = json.dumps({
            name: lists.versions[name] for name in (
                "sex", "ethnicity", "religion", "nationality", "job_position", "position_group",
                "employment_status", "subject", "qualification",
            )
        }, sort_keys=True, ensure_ascii=False)
        self.position_group = {
            entry.code: entry.extra_str("position_group") or ""
            for entry in lists.job_position.entries
        }
        self.grades_of_level: dict[str, tuple[int, ...]] = {}
        for entry in lists.school_level.entries:
            raw = entry.extra.get("grades")
            grades = tuple(g for g in raw if isinstance(g, int)) if isinstance(raw, tuple) else ()
            # Pre-school groups have no grade number; they are stored as grade 0.
            self.grades_of_level[entry.code] = grades or (0,)
        self.subjects_of_level: dict[str, tuple[str, ...]] = {}
        for level in ("tieu_hoc", "thcs", "thpt"):
            self.subjects_of_level[level] = tuple(
                entry.code for entry in lists.subject.entries
                if level in entry.extra_strs("levels") and entry.code not in _SKIPPED_SUBJECTS
            )
        self.problem_thresholds = self._thresholds(plan.rates)
        self.authority_id = 0
        self.homeroom: dict[int, int] = {}
        self.demo_roles_done: set[str] = set()

    @staticmethod
    def _thresholds(rates: ProblemRates) -> list[tuple[float, str]]:
        total = 0.0
        result = []
        for kind, rate in rates.as_dict().items():
            total += rate
            result.append((total, kind))
        return result

    # --- small helpers ---------------------------------------------------------------------

    def new_id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    def add(self, table: str, row: Row) -> None:
        self.batch.rows[table].append(row)

    def keys(self, full_name: str) -> tuple[str, str]:
        cached = self.name_keys.get(full_name)
        if cached is None:
            cached = (vietnamese_sort_key(full_name), name_match_key(full_name))
            self.name_keys[full_name] = cached
        return cached

    def problem(self, kind: str, entity: str, record_id: int, other: int | None = None,
                field_name: str = "", detail: str = "") -> None:
        self.batch.problems.append((kind, entity, record_id, other, field_name, detail))

    def personal_id(self, prefix: str, sex: str, year: int) -> str:
        digit = (year // 100 - 19) * 2 + (1 if sex == "F" else 0)
        return self.personal_id_digits(prefix, digit, year % 100)

    def personal_id_digits(self, prefix: str, digit: int, yy: int) -> str:
        # The six "random" digits walk a fixed permutation of 0..999999 per (place, digit,
        # year), so numbers never collide and need no uniqueness look-ups.
        key = int(prefix) * 1000 + digit * 100 + yy
        count = self.id_counts.get(key, 0)
        self.id_counts[key] = count + 1
        offset = (key * 2_654_435_761 + self.plan.seed * 40_503) % 1_000_000
        return f"{prefix}{digit}{yy:02d}{(offset + count * 618_033) % 1_000_000:06d}"

    def education_id(self) -> str:
        # Opaque 10 digits, unique: an affine permutation of 0..10^10-1 (multiplier coprime
        # with 10).
        self.education_counter += 1
        offset = 1_234_567_891 + self.plan.seed * 97
        return f"{(offset + self.education_counter * 3_141_592_653) % 10**10:010d}"

    def temporary_code(self) -> str:
        self.temporary_counter += 1
        return f"TMP{self.plan.start_year}{self.temporary_counter:07d}"

    def mobile(self) -> str:
        return f"{self.rng.choice(_MOBILE_PREFIXES)}{self.rng.below(10_000_000):07d}"

    def birthday(self, year: int) -> str:
        days = self.days_of_year.get(year)
        if days is None:
            first = dt.date(year, 1, 1)
            days = [(first + dt.timedelta(days=n)).isoformat() for n in range(365)]
            self.days_of_year[year] = days
        return days[self.rng.below(365)]

    def username(self, base: str) -> str:
        count = self.username_counts.get(base, 0)
        self.username_counts[base] = count + 1
        return base if count == 0 else f"{base}{count + 1}"

    # --- the authority --------------------------------------------------------------------

    def authority(self) -> int:
        authority_id = self.new_id("schools.Authority")
        self.add("schools.Authority", (
            authority_id, self.plan.authority_code, self.plan.authority_name,
            self.plan.province_code, self.lists.versions["commune"],
        ))
        self.authority_id = authority_id
        slug = self.plan.authority_code.lower()
        for base, role, label, full_name in (
            (f"canbo.{slug}", "authority_officer", "Cán bộ Sở", "Trần Minh Khoa"),
            (f"quantri.{slug}", "system_admin", "Quản trị hệ thống", "Lê Thị Thanh Hà"),
        ):
            username = self.username(base)
            user_id = self.new_id("access.User")
            self.add("access.User", (
                user_id, self.plan.demo_password_hash, None, False, username, "", "",
                f"{username}@hcm.edu.vn", False, True, self.ts, full_name, False,
            ))
            self.add("access.Membership", (
                self.new_id("access.Membership"), user_id, role, authority_id, None,
                dt.date(2025, 7, 1).isoformat(), None,
            ))
            self.batch.demo_logins.append(DemoLogin(username, label, self.plan.authority_name))
        return authority_id

    # --- a school -------------------------------------------------------------------------

    def school(self, index: int) -> None:
        rng = self.rng
        level = "tieu_hoc" if index == 0 else _LEVEL_WEIGHTS.pick(rng)
        private_share = {"lien_cap": 0.8, "mam_non": 0.4}.get(level, 0.1)
        ownership = "private" if rng.random() < private_share else "public"
        commune_code = self.places.commune(rng)
        name = self.school_name(level, ownership, commune_code)
        code = f"{self.plan.province_code}{index + 1:06d}"
        school_id = self.new_id("schools.School")
        self.add("schools.School", (
            school_id, self.authority_id, code, name, level, ownership, commune_code,
            self.lists.versions["commune"],
            f"{self.places.street_address(rng)}, {self.places.commune_name(commune_code)}",
            True,
        ))
        year_id = self.new_id("schools.SchoolYear")
        self.add("schools.SchoolYear", (
            year_id, school_id, self.plan.start_year, self.year_start.isoformat(),
            self.year_end.isoformat(), "open",
        ))
        classes = self.classes(level, school_id, year_id)
        self.staff_and_assignments(index, level, school_id, year_id, code, name, classes)
        families: list[_Family] = []
        for class_id, class_name, grade, size, _ in classes:
            for _ in range(size):
                self.student(school_id, year_id, class_id, grade, class_name, families)
        self.batch.students += self.plan.students_per_school

    def school_name(self, level: str, ownership: str, commune_code: str) -> str:
        rng = self.rng
        prefix = _LEVEL_PREFIX[level]
        roll = rng.random()
        if ownership == "private":
            candidate = f"{prefix} {rng.choice(_PRIVATE_NAMES)}"
        elif roll < 0.55:
            candidate = f"{prefix} {rng.choice(_NAMESAKES)}"
        else:
            commune = self.places.commune_name(commune_code)
            candidate = f"{prefix} {commune.removeprefix('Phường ').removeprefix('Xã ')}"
        if candidate in self.used_school_names:
            candidate = f"{candidate} ({self.places.commune_name(commune_code)})"
        number = 2
        base = candidate
        while candidate in self.used_school_names:
            candidate = f"{base} số {number}"
            number += 1
        self.used_school_names.add(candidate)
        return candidate

    def classes(self, level: str, school_id: int, year_id: int
                ) -> list[tuple[int, str, int, int, str]]:
        """(id, name, grade, size, slug) per class; 30–45 pupils whenever numbers allow."""
        rng = self.rng
        total = self.plan.students_per_school
        grades = self.grades_of_level[level]
        count = max(1, round(total / 38))
        per_grade = [count // len(grades) + (1 if i < count % len(grades) else 0)
                     for i in range(len(grades))]
        sizes = [total // count + (1 if i < total % count else 0) for i in range(count)]
        for _ in range(count):
            # Real classes differ a little in size; move a few pupils while staying in 30–45.
            a, b = rng.randrange(count), rng.randrange(count)
            shift = rng.randint(0, 4)
            if a != b and sizes[a] + shift <= 45 and sizes[b] - shift >= 30:
                sizes[a] += shift
                sizes[b] -= shift
        result = []
        position = 0
        for grade, how_many in zip(grades, per_grade, strict=True):
            for number in range(how_many):
                if grade == 0:
                    group = _PRESCHOOL_GROUPS[number % 3]
                    name = f"{group} {number // 3 + 1}"
                else:
                    letter = chr(ord("A") + number % 26)
                    name = f"{grade}{letter}" + (f"{number // 26}" if number >= 26 else "")
                slug = fold_diacritics(name).replace(" ", "").lower()
                class_id = self.new_id("registry.SchoolClass")
                result.append((class_id, name, grade, sizes[position], slug))
                position += 1
        return result

    # --- staff ----------------------------------------------------------------------------

    def staff_member(
        self, school: _SchoolRef, *, role: str, role_label: str,
        username_base: str, job_position: str, subjects: list[str], qualification: str,
        female_share: float, born_from: int, born_to: int,
    ) -> int:
        rng = self.rng
        school_id, school_code, demo = school.school_id, school.code, school.demo
        sex = "F" if rng.random() < female_share else "M"
        ethnicity = _ETHNICITY.pick(rng)
        name = self.names.person(sex=sex, family=self.names.family(ethnicity), young=False,
                                 ethnicity=ethnicity)
        full_name = name.full
        sort_key, match_key = self.keys(full_name)
        born_year = rng.randint(born_from, born_to)
        born = self.birthday(born_year)
        birth_province = self.places.birth_province(rng, adult=True)
        id_number = self.personal_id(self.places.id_prefix[birth_province], sex, born_year)
        username = self.username(f"{username_base}.{school_code}")
        user_id = self.new_id("access.User")
        staff_id = self.new_id("registry.Staff")
        email = f"{username}@hcm.edu.vn"
        password = self.plan.demo_password_hash if demo else self.unusable_password()
        # Accounts without the demo password get one from an administrator, which the holder
        # must then replace.
        self.add("access.User", (
            user_id, password, None, False, username, "", "", email, False, True, self.ts,
            full_name, not demo,
        ))
        status = "01" if rng.random() < 0.97 else "02"
        self.add("registry.Staff", (
            staff_id, full_name, sort_key, match_key, school_id, user_id, self.education_id(),
            born, sex, ethnicity, _RELIGION.pick(rng), "VN", id_number,
            self.mobile(), email, job_position, self.position_group.get(job_position, ""),
            status, json.dumps(subjects), qualification, self.staff_versions, self.ts, self.ts,
        ))
        self.add("access.Membership", (
            self.new_id("access.Membership"), user_id, role, self.authority_id, school_id,
            self.assigned_on, None,
        ))
        self.batch.persons.append((
            id_number, full_name, born, sex, birth_province, "", ethnicity, "00",
            "VN", "", self.plan.province_code, "", "", "", "staff",
        ))
        if demo and role not in self.demo_roles_done:
            self.demo_roles_done.add(role)
            self.batch.demo_logins.append(DemoLogin(username, role_label, school.name))
        return staff_id

    def unusable_password(self) -> str:
        # Django treats any value starting with "!" as an unusable password; drawing the
        # suffix from the run's generator keeps the rows reproducible.
        return "!" + "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=40))

    def subjects_for_grade(self, grade: int) -> tuple[str, ...]:
        level = "tieu_hoc" if grade <= 5 else "thcs" if grade <= 9 else "thpt"
        return tuple(
            code for code in self.subjects_of_level[level]
            if _FROM_GRADE.get(code, 0) <= grade <= _UNTIL_GRADE.get(code, 99)
        )

    def staff_and_assignments(self, index: int, level: str, school_id: int, year_id: int,
                              code: str, name: str,
                              classes: list[tuple[int, str, int, int, str]]) -> None:
        rng = self.rng
        demo = index == 0
        self.demo_roles_done.clear()
        common = _SchoolRef(school_id, code, name, demo)
        female = 0.9 if level == "mam_non" else 0.8 if level == "tieu_hoc" else 0.65
        self.staff_member(common, role="principal", role_label="Hiệu trưởng",
                          username_base="hieutruong",
                          job_position="hieu_truong", subjects=[],
                          qualification="thac_si" if rng.random() < 0.4 else "dai_hoc",
                          female_share=0.5, born_from=1968, born_to=1982)
        for number in range(1 if len(classes) < 15 else 2 if len(classes) < 35 else 3):
            self.staff_member(common, role="vice_principal", role_label="Phó hiệu trưởng",
                              username_base=f"phohieutruong{number + 1}",
                              job_position="pho_hieu_truong", subjects=[],
                              qualification="thac_si" if rng.random() < 0.3 else "dai_hoc",
                              female_share=0.6, born_from=1970, born_to=1988)
        teacher_qualification = "cao_dang" if level == "mam_non" else "dai_hoc"
        # Homeroom teachers: one per class; in secondary grades they also teach one subject.
        pending: dict[str, list[tuple[int, int]]] = {}
        for class_id, _class_name, grade, _size, slug in classes:
            subjects = list(self.subjects_for_grade(grade)) if grade else []
            if grade == 0:
                own: list[str] = []
            elif grade <= 5:
                own = [code for code in subjects if code in _PRIMARY_CORE]
            else:
                own = [subjects[class_id % len(subjects)]]
            teacher = self.staff_member(
                common, role="homeroom_teacher", role_label="Giáo viên chủ nhiệm",
                username_base=f"gvcn.{slug}", job_position="giao_vien", subjects=own,
                qualification=teacher_qualification, female_share=female,
                born_from=1972, born_to=2001,
            )
            self.homeroom[class_id] = teacher
            self.assignment(teacher, school_id, year_id, "homeroom", class_id, "")
            for subject in own if grade > 5 else []:
                self.assignment(teacher, school_id, year_id, "subject", class_id, subject)
            for subject in subjects:
                if subject not in own and not (grade <= 5 and subject in _PRIMARY_CORE):
                    pending.setdefault(subject, []).append((class_id, grade))
        # Subject teachers take the remaining (class, subject) pairs in blocks.
        for subject, pairs in pending.items():
            block = _CLASSES_PER_SUBJECT_TEACHER[
                "primary" if pairs[0][1] <= 5 else "secondary"
            ]
            for start in range(0, len(pairs), block):
                teacher = self.staff_member(
                    common, role="subject_teacher", role_label="Giáo viên bộ môn",
                    username_base=f"gvbm.{subject.replace('_', '')}", job_position="giao_vien",
                    subjects=[subject], qualification="dai_hoc", female_share=female,
                    born_from=1972, born_to=2001,
                )
                for class_id, _grade in pairs[start:start + block]:
                    self.assignment(teacher, school_id, year_id, "subject", class_id, subject)
        for role, label, base, position, qualification in (
            ("records_clerk", "Nhân viên giáo vụ/văn thư", "giaovu", "giao_vu", "cao_dang"),
            ("school_nurse", "Nhân viên y tế", "yte", "y_te", "trung_cap"),
            ("it_officer", "Quản trị CNTT", "cntt", "cong_nghe_thong_tin", "dai_hoc"),
        ):
            self.staff_member(common, role=role, role_label=label, username_base=base,
                              job_position=position, subjects=[], qualification=qualification,
                              female_share=0.7 if role != "it_officer" else 0.3,
                              born_from=1975, born_to=2000)
        for class_id, class_name, grade, _size, _slug in classes:
            age_group = self.preschool_group(class_name).code if grade == 0 else ""
            self.add("registry.SchoolClass", (
                class_id, school_id, year_id, class_name, grade, age_group,
                self.homeroom[class_id],
            ))

    def preschool_group(self, class_name: str) -> CodeEntry:
        """The age group of a drawn preschool class, by the first word of its name."""
        entry = self.lists.preschool_age_group.find_by_extra("word", class_name.split()[0])
        if entry is None:
            raise LookupError(f"no preschool age group is named by {class_name!r}")
        return entry

    def assignment(self, staff_id: int, school_id: int, year_id: int, duty: str, class_id: int,
                   subject: str) -> None:
        if len(subject) > self.plan.subject_code_max_length:
            # Assignment.subject_code is shorter than some codes of the subject list
            # ("giao_duc_kinh_te_phap_luat"); PostgreSQL would reject the row. The teacher's
            # subject_codes still name the subject.
            return
        self.add("registry.Assignment", (
            self.new_id("registry.Assignment"), staff_id, school_id, year_id, duty, class_id,
            subject, self.assigned_on, None,
        ))

    # --- students -------------------------------------------------------------------------

    def pick_problem(self) -> str:
        roll = self.rng.random()
        for threshold, kind in self.problem_thresholds:
            if roll < threshold:
                return kind
        return ""

    def student(self, school_id: int, year_id: int, class_id: int, grade: int,
                class_name: str, families: list[_Family]) -> None:
        rng = self.rng
        kind = self.pick_problem()
        if kind == "duplicate" and self.duplicate(school_id, year_id, class_id, grade):
            return
        if kind == "duplicate":
            kind = ""
        student_id = self.new_id("registry.Student")
        sex = "M" if rng.random() < 0.515 else "F"
        older = False
        if grade == 0:
            year = self.plan.start_year - int(str(self.preschool_group(class_name).extra["age"]))
        else:
            # Grade 1 in the calendar year the child turns 6; some repeated a year, a few two.
            year = self.plan.start_year - 5 - grade
            roll = rng.random()
            if roll < 0.02:
                year -= 1
            elif roll < 0.025:
                year -= 2
                older = True
        born = self.birthday(year)
        family: _Family | None = None
        if families and rng.random() < 0.08:
            candidate = rng.choice(families)
            if candidate.grade != grade:
                family = candidate
        ethnicity = _ETHNICITY.pick(rng)
        family_name = family.family_name if family else self.names.family(ethnicity)
        name = self.names.person(sex=sex, family=family_name, young=True, ethnicity=ethnicity)
        full_name = name.full
        religion = "06" if ethnicity == "14" and rng.random() < 0.7 else (
            "01" if ethnicity == "05" and rng.random() < 0.8 else _RELIGION.pick(rng))
        birth_province = self.places.birth_province(rng, adult=False)
        birth = self.places.legacy_place(rng, birth_province, hospital=rng.random() < 0.25)
        hometown_province = (birth_province if rng.random() < 0.45
                             else self.places.birth_province(rng, adult=True))
        hometown = self.places.legacy_place(rng, hometown_province)
        if family is not None:
            permanent_address, permanent_commune = (family.permanent_address,
                                                    family.permanent_commune)
        else:
            permanent_address = self.places.street_address(rng)
            permanent_commune = self.places.commune(rng)
        if rng.random() < 0.8:
            current_address, current_commune = permanent_address, permanent_commune
        else:
            current_address, current_commune = (self.places.street_address(rng),
                                                self.places.commune(rng))
        no_id_share = (0.35, 0.10, 0.05)[grade] if grade < 3 else 0.02 if grade <= 5 else 0.01
        needs_id = kind in ("id_structure", "identity_mismatch")
        prefix = self.places.id_prefix[birth_province]
        id_number: str | None
        if needs_id or rng.random() >= no_id_share:
            id_number = self.personal_id(prefix, sex, year)
        else:
            id_number = None
            self.problem("no_personal_id", "student", student_id, None, "personal_id_number",
                         "natural")
        temporary = grade == 1 and rng.random() < 0.08
        if temporary:
            self.problem("no_education_id", "student", student_id, None, "education_id",
                         "natural")
        if older:
            self.problem("age_grade", "student", student_id, None, "date_of_birth", "natural")
        row: dict[str, Any] = {
            "id": student_id, "full_name": full_name, "school_id": school_id,
            "current_class_id": class_id,
            "education_id": None if temporary else self.education_id(),
            "temporary_code": self.temporary_code() if temporary else None,
            "date_of_birth": born, "sex": sex, "ethnicity_code": ethnicity,
            "religion_code": religion, "nationality_code": "VN",
            "personal_id_number": id_number,
            "birthplace_text": birth.text, "birthplace_province": birth.province,
            "birthplace_commune": birth.commune,
            "birthplace_legacy_province": birth.legacy_province,
            "birthplace_legacy_district": birth.legacy_district,
            "birthplace_legacy_ward": birth.legacy_ward,
            "hometown_text": hometown.text, "hometown_province": hometown.province,
            "hometown_commune": hometown.commune,
            "hometown_legacy_province": hometown.legacy_province,
            "hometown_legacy_district": hometown.legacy_district,
            "hometown_legacy_ward": hometown.legacy_ward,
            "permanent_address": permanent_address,
            "permanent_province": self.plan.province_code,
            "permanent_commune": permanent_commune,
            "current_address": current_address, "current_province": self.plan.province_code,
            "current_commune": current_commune, "phone": "",
            "disability_code": _DISABILITY.pick(rng), "policy_group_code": _POLICY_GROUP.pick(rng),
            "code_versions": self.student_versions, "merged_into_id": None, "merged_at": None,
            "created_at": self.ts, "updated_at": self.ts,
        }
        if family is None:
            family, guardian_rows = self.new_family(school_id, full_name, family_name, year,
                                                    grade, permanent_address, permanent_commune)
            families.append(family)
            if len(families) > 60:
                families.pop(0)
        else:
            guardian_rows = []
        row["phone"] = family.phone
        true_row = dict(row) if kind else row
        if kind == "missing_field":
            self.plant_missing(row)
        elif kind == "junk_value":
            self.plant_junk(row, guardian_rows)
        elif kind == "id_structure":
            self.plant_id_structure(row, prefix, sex, year)
            true_row["personal_id_number"] = row["personal_id_number"]
        in_register = True
        if kind == "identity_mismatch":
            in_register = self.plant_identity_mismatch(row)
        sort_key, match_key = self.keys(row["full_name"])
        row["name_sort_key"] = sort_key
        row["name_match_key"] = match_key
        self.add("registry.Student", _STUDENT_ROW(row))
        for _guardian_id, guardian_row, _relation, _primary in guardian_rows:
            self.add("registry.Guardian", guardian_row)
        for guardian_id, relation, primary in family.guardians:
            self.add("registry.StudentGuardian", (
                self.new_id("registry.StudentGuardian"), student_id, guardian_id, relation,
                primary,
            ))
        self.enrol(student_id, school_id, year_id, class_id, grade)
        if true_row["personal_id_number"] and in_register:
            self.batch.persons.append((
                true_row["personal_id_number"], true_row["full_name"],
                true_row["date_of_birth"], true_row["sex"], birth.legacy_province, birth.text,
                true_row["ethnicity_code"], true_row["religion_code"], "VN",
                true_row["permanent_address"], true_row["permanent_province"],
                true_row["permanent_commune"], family.father_name, family.mother_name,
                "student",
            ))
        self.remember(student_id, school_id, class_id, grade, true_row, guardian_rows, family)

    def enrol(self, student_id: int, school_id: int, year_id: int, class_id: int,
              grade: int) -> None:
        enrolment_id = self.new_id("registry.Enrolment")
        start = self.year_start.isoformat()
        self.add("registry.Enrolment", (
            enrolment_id, student_id, school_id, year_id, class_id, grade, self.studying, start,
            True, start, None,
        ))
        self.add("registry.EnrolmentStatusChange", (
            self.new_id("registry.EnrolmentStatusChange"), enrolment_id, self.studying, start,
            "Nhập dữ liệu đầu năm học", self.ts, None,
        ))

    def new_family(self, school_id: int, child_name: str, family_name: str, child_year: int,
                   grade: int, permanent_address: str, permanent_commune: str
                   ) -> tuple[_Family, list[tuple[int, Row, str, bool]]]:
        rng = self.rng
        roll = rng.random()
        members: list[tuple[str, str]] = []
        if roll < 0.74:
            members = [("Cha", "M"), ("Mẹ", "F")]
        elif roll < 0.84:
            members = [("Mẹ", "F")]
        elif roll < 0.90:
            members = [("Cha", "M")]
        elif roll < 0.96:
            members = [("Bà", "F"), ("Mẹ", "F")]
        else:
            members = [("Ông", "M"), ("Bà", "F")]
        # Schools call the mother first when both parents are listed.
        primary_position = 1 if members[0][0] == "Cha" and len(members) > 1 else 0
        guardians: list[tuple[int, str, bool]] = []
        rows: list[tuple[int, Row, str, bool]] = []
        father_name = mother_name = ""
        phone = ""
        for position, (relation, sex) in enumerate(members):
            ethnicity = "01"
            if relation == "Cha":
                family = family_name
                age_gap = rng.randint(24, 42)
            elif relation == "Ông":
                family = family_name
                age_gap = rng.randint(48, 66)
            else:
                family = self.names.family(ethnicity)
                age_gap = rng.randint(20, 38) if relation == "Mẹ" else rng.randint(45, 64)
            name = self.names.person(sex=sex, family=family, young=False)
            full_name = name.full
            if relation == "Cha":
                father_name = full_name
            elif relation == "Mẹ":
                mother_name = full_name
            born_year = child_year - age_gap
            born = self.birthday(born_year)
            birth_province = self.places.birth_province(rng, adult=True)
            id_number = (self.personal_id(self.places.id_prefix[birth_province], sex, born_year)
                         if rng.random() < 0.86 else None)
            guardian_id = self.new_id("registry.Guardian")
            sort_key, match_key = self.keys(full_name)
            guardian_phone = self.mobile()
            primary = position == primary_position
            occupation = "Hưu trí" if relation in ("Ông", "Bà") and rng.random() < 0.6 else (
                _OCCUPATIONS.pick(rng))
            row = (guardian_id, full_name, sort_key, match_key, school_id, born_year,
                   occupation, guardian_phone, id_number, self.ts, self.ts)
            rows.append((guardian_id, row, relation, primary))
            guardians.append((guardian_id, self.relation[relation], primary))
            if primary:
                phone = guardian_phone
            if id_number is not None:
                place = self.places.legacy_place(rng, birth_province)
                self.batch.persons.append((
                    id_number, full_name, born, sex, birth_province, place.text,
                    ethnicity, "00", "VN", permanent_address, self.plan.province_code,
                    permanent_commune, "", "", "guardian",
                ))
        family_record = _Family(family_name, guardians, father_name, mother_name,
                                permanent_address, permanent_commune, phone or self.mobile(),
                                grade)
        return family_record, rows

    def remember(self, student_id: int, school_id: int, class_id: int, grade: int,
                 row: dict[str, Any], guardian_rows: list[tuple[int, Row, str, bool]],
                 family: _Family) -> None:
        # A sample is enough to draw duplicates from, and keeps the bookkeeping cheap.
        if not guardian_rows or self.rng.random() >= 0.1:
            return
        pool = self.reservoir.setdefault(grade, [])
        snapshot = _Snapshot(student_id, school_id, class_id, grade, row, guardian_rows)
        if len(pool) < 300:
            pool.append(snapshot)
        else:
            pool[self.rng.below(300)] = snapshot

    # --- planted problems -----------------------------------------------------------------

    def plant_missing(self, row: dict[str, Any]) -> None:
        choice = self.rng.randrange(5)
        if choice == 0:
            row["ethnicity_code"] = ""
            fields_changed = "ethnicity_code"
        elif choice == 1:
            row["date_of_birth"] = None
            fields_changed = "date_of_birth"
        elif choice == 2:
            row["permanent_address"] = row["permanent_commune"] = row["permanent_province"] = ""
            fields_changed = "permanent_residence"
        elif choice == 3:
            row["sex"] = ""
            fields_changed = "sex"
        else:
            for name in ("birthplace_text", "birthplace_province", "birthplace_commune",
                         "birthplace_legacy_province", "birthplace_legacy_district",
                         "birthplace_legacy_ward"):
                row[name] = ""
            fields_changed = "birthplace"
        self.problem("missing_field", "student", row["id"], None, fields_changed)

    def plant_junk(self, row: dict[str, Any],
                   guardian_rows: list[tuple[int, Row, str, bool]]) -> None:
        choice = self.rng.randrange(6)
        if choice >= 4 and guardian_rows:
            guardian_id, guardian_row, relation, primary = guardian_rows[0]
            values = list(guardian_row)
            if choice == 4:
                values[7] = "0000000000"
                field_name, value = "phone", "0000000000"
            else:
                values[6] = ".."
                field_name, value = "occupation", ".."
            guardian_rows[0] = (guardian_id, tuple(values), relation, primary)
            self.problem("junk_value", "guardian", guardian_id, None, field_name, value)
            return
        field_name, value = (
            ("permanent_address", "aaa"), ("current_address", "không có"),
            ("birthplace_text", ".."), ("phone", "0000000000"),
            ("permanent_address", "aaa"), ("current_address", "không có"),
        )[choice]
        row[field_name] = value
        self.problem("junk_value", "student", row["id"], None, field_name, value)

    def plant_id_structure(self, row: dict[str, Any], prefix: str, sex: str, year: int) -> None:
        digit = (year // 100 - 19) * 2 + (1 if sex == "F" else 0)
        if self.rng.random() < 0.5:
            row["personal_id_number"] = self.personal_id_digits(prefix, digit ^ 1, year % 100)
            detail = "sex_digit"
        else:
            shift = self.rng.choice((-2, -1, 1, 2))
            row["personal_id_number"] = self.personal_id_digits(prefix, digit,
                                                                (year + shift) % 100)
            detail = "birth_year"
        self.problem("id_structure", "student", row["id"], None, "personal_id_number", detail)

    def plant_identity_mismatch(self, row: dict[str, Any]) -> bool:
        """Make the record disagree with the register; False when the person is left out."""
        choice = self.rng.randrange(4)
        if choice == 0:
            row["sex"] = "F" if row["sex"] == "M" else "M"
            self.problem("identity_mismatch", "student", row["id"], None, "sex")
        elif choice == 1:
            row["full_name"] = misspell(row["full_name"], self.rng)
            self.problem("identity_mismatch", "student", row["id"], None, "full_name")
        elif choice == 2:
            born = dt.date.fromisoformat(row["date_of_birth"])
            row["date_of_birth"] = self.shifted_date(born).isoformat()
            self.problem("identity_mismatch", "student", row["id"], None, "date_of_birth")
        else:
            self.problem("not_in_register", "student", row["id"], None, "personal_id_number")
            return False
        return True

    def shifted_date(self, born: dt.date) -> dt.date:
        """A wrong date in the same year: day and month swapped, or a few days off."""
        if born.day <= 12 and born.day != born.month:
            return dt.date(born.year, born.day, born.month)
        shifted = born + dt.timedelta(days=self.rng.choice((-9, -4, -1, 1, 3, 10)))
        return shifted if shifted.year == born.year else born.replace(day=1 + born.day % 28)

    def duplicate(self, school_id: int, year_id: int, class_id: int, grade: int) -> bool:
        """Enter an already-seeded child again in this class, as a second, corrupted row."""
        rng = self.rng
        pool = [item for item in self.reservoir.get(grade, ()) if item.class_id != class_id]
        if not pool:
            pool = [item for items in self.reservoir.values() for item in items
                    if item.class_id != class_id]
        if not pool:
            return False
        source = rng.choice(pool)
        row = dict(source.row)
        student_id = self.new_id("registry.Student")
        row["id"] = student_id
        row["school_id"] = school_id
        row["current_class_id"] = class_id
        row["personal_id_number"] = None
        row["education_id"] = self.education_id()
        row["temporary_code"] = None
        corruptions = ["missing_id"]
        options = ["no_diacritics", "day_month_swap", "typo"]
        rng.shuffle(options)
        for corruption in options[: rng.randint(1, 2)]:
            if corruption == "no_diacritics":
                row["full_name"] = fold_diacritics(row["full_name"])
            elif corruption == "typo":
                row["full_name"] = typo(row["full_name"], rng)
            else:
                born = dt.date.fromisoformat(row["date_of_birth"])
                if born.day > 12 or born.day == born.month:
                    continue
                row["date_of_birth"] = dt.date(born.year, born.day, born.month).isoformat()
            corruptions.append(corruption)
        corruptions.append("other_school" if source.school_id != school_id else "other_class")
        sort_key, match_key = self.keys(row["full_name"])
        row["name_sort_key"] = sort_key
        row["name_match_key"] = match_key
        self.add("registry.Student", _STUDENT_ROW(row))
        self.problem("duplicate", "student", student_id, source.student_id, "",
                     ",".join(corruptions))
        for source_guardian_id, guardian_row, relation, primary in source.guardians:
            if source.school_id == school_id:
                guardian_id = source_guardian_id
            else:
                # The other school typed the parents again, without their ID numbers.
                guardian_id = self.new_id("registry.Guardian")
                values = list(guardian_row)
                values[0], values[4], values[8] = guardian_id, school_id, None
                self.add("registry.Guardian", tuple(values))
                self.problem("duplicate", "guardian", guardian_id, source_guardian_id, "",
                             "retyped_without_id")
            self.add("registry.StudentGuardian", (
                self.new_id("registry.StudentGuardian"), student_id, guardian_id,
                self.relation[relation], primary,
            ))
        self.enrol(student_id, school_id, year_id, class_id, grade)
        return True

    # --- driving --------------------------------------------------------------------------

    def take_batch(self) -> Batch:
        batch, self.batch = self.batch, Batch()
        return batch

    def run(self) -> Iterator[Batch]:
        self.authority()
        for index in range(self.plan.schools):
            self.school(index)
            self.homeroom.clear()
            if self.batch.students >= self.plan.chunk_students:
                yield self.take_batch()
        final = self.take_batch()
        yield final


def generate(plan: GenerationPlan, lists: CodeLists) -> Iterator[Batch]:
    """Batches of rows, each holding whole schools; the last one may be small."""
    generator = _Generator(plan, lists)
    yield from generator.run()
