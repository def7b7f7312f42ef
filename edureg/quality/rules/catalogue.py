"""The rule catalogue: every quality rule, built from data.

Required-field rules come from the field catalogue (per entity, school level and enrolment
status); code rules from the code lists; plausibility, junk and attestation rules from the rule
parameters file. A rule has a stable code, a dimension, a severity, the entity and fields it
reads, a Vietnamese message saying what to do, its basis, and one definition (``applies`` and
``check``, see ``checks``) used by both the per-record and the batch path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from edureg.core.catalogue import Catalogue, FieldInfo
from edureg.core.text import gettext_noop, translate_message
from edureg.quality.rules.checks import (
    TODAY,
    Blank,
    Check,
    DateOutside,
    IsTrue,
    LowerIn,
    Matches,
    Not,
    NotInList,
    OlderThan,
    OneOf,
    PersonalIdDisagrees,
    RepeatedCharacter,
    YearDifferenceOutside,
)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEFAULT_PARAMETERS = DATA_DIR / "rules_2025.1.toml"

ENTITIES = ("student", "guardian", "staff")


def identity_rule_code(entity: str) -> str:
    """The status rule "identity not verified by the population register" of an entity."""
    return f"sach.{entity}.identity.unverified"


# The status rule "an open duplicate candidate awaits review" (pupils: the batch run's pairs).
DUPLICATE_RULE_CODE = "sach.student.duplicate.open"
DUPLICATE_COLUMN = "duplicate_open"
UPSTREAM_RULE_CODE = "song.student.upstream.pending"
UPSTREAM_COLUMN = "upstream_pending"


class Dimension(enum.StrEnum):
    CORRECT = "dung"
    COMPLETE = "du"
    CLEAN = "sach"
    LIVE = "song"


DIMENSION_LABELS = {
    Dimension.CORRECT: gettext_noop("Đúng"),
    Dimension.COMPLETE: gettext_noop("Đủ"),
    Dimension.CLEAN: gettext_noop("Sạch"),
    Dimension.LIVE: gettext_noop("Sống"),
}


class Severity(enum.StrEnum):
    ERROR = "error"  # blocks the save of a changed field
    WARNING = "warning"
    INFO = "info"


class Kind(enum.StrEnum):
    PROBLEM = "problem"  # something in the data to fix: stored as a finding
    STATUS = "status"  # a step not yet done (attest, verify, confirm): stored as a flag


@dataclasses.dataclass(frozen=True)
class Rule:
    code: str
    dimension: Dimension
    severity: Severity
    entity: str
    fields: tuple[str, ...]  # the first is the form field a fix goes to
    template: str  # gettext_noop'd; formatted with ``params``
    params: Mapping[str, str]
    basis: str
    check: Check
    applies: Check | None = None
    kind: Kind = Kind.PROBLEM
    weight: int = 1  # impact: orders a to-do list

    @property
    def message(self) -> str:
        text = translate_message(self.template)
        return text % dict(self.params) if self.params else text

    @property
    def columns(self) -> frozenset[str]:
        used = self.check.columns
        return used | self.applies.columns if self.applies is not None else used


@dataclasses.dataclass(frozen=True)
class AttestationGroup:
    entity: str
    code: str
    label: str
    documents: tuple[str, ...]
    fields: tuple[str, ...]

    @property
    def column(self) -> str:
        return f"attested_{self.code}"


@dataclasses.dataclass(frozen=True)
class Parameters:
    version: str
    raw: Mapping[str, Any]
    attestation_groups: tuple[AttestationGroup, ...]
    documents: Mapping[str, str]

    def groups_for(self, entity: str) -> tuple[AttestationGroup, ...]:
        return tuple(g for g in self.attestation_groups if g.entity == entity)


def load_parameters(path: Path = DEFAULT_PARAMETERS) -> Parameters:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    groups = tuple(
        AttestationGroup(entity=g["entity"], code=g["code"], label=g["label"],
                         documents=tuple(g["documents"]), fields=tuple(g["fields"]))
        for g in raw.get("attestation_groups", ())
    )
    return Parameters(version=str(raw["version"]), raw=raw, attestation_groups=groups,
                      documents=dict(raw.get("documents", {})))


@dataclasses.dataclass(frozen=True)
class RuleSet:
    version: str  # rule parameters version + field catalogue version
    rules: tuple[Rule, ...]
    parameters: Parameters
    update_groups: Mapping[str, int]  # update group → max age in days (those that expire)

    def for_entity(self, entity: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.entity == entity)

    def get(self, code: str) -> Rule:
        for rule in self.rules:
            if rule.code == code:
                return rule
        raise KeyError(code)

    def status_rules(self, owner: str) -> tuple[Rule, ...]:
        """Status rules whose results are kept as bits of the owner's state, in a fixed order."""
        return tuple(r for r in self.rules if r.kind is Kind.STATUS and r.entity == owner)


# Free-text fields checked for junk, per entity.
_TEXT_FIELDS = {
    "student": ("birthplace_text", "hometown_text", "permanent_address", "current_address"),
    "guardian": ("occupation",),
    "staff": (),
}
_PHONE = r"^(0[35789][0-9]{8}|02[0-9]{9})$"

MISSING = gettext_noop("Chưa có «%(label)s»: hãy bổ sung theo hồ sơ.")
NOT_IN_LIST = gettext_noop("«%(label)s» có mã không thuộc danh mục %(list)s: hãy chọn lại từ "
                           "danh mục.")
BIRTH_DATE_RANGE = gettext_noop("Ngày sinh không hợp lệ (trước %(earliest)s hoặc sau hôm nay): "
                                "hãy nhập lại theo giấy khai sinh.")
PUPIL_AGE = gettext_noop("Tuổi không hợp với khối lớp (lớp 1 thường %(low)s–%(high)s tuổi tính "
                         "theo năm): hãy kiểm tra ngày sinh và lớp theo giấy khai sinh.")
PRESCHOOL_AGE = gettext_noop("Tuổi không hợp với bậc mầm non (%(low)s–%(high)s tuổi tính theo "
                             "năm): hãy kiểm tra ngày sinh theo giấy khai sinh.")
STAFF_AGE = gettext_noop("Tuổi không hợp với người đang làm việc (%(low)s–%(high)s): hãy kiểm tra "
                         "ngày sinh theo CCCD.")
GUARDIAN_AGE = gettext_noop("Năm sinh của cha/mẹ/người giám hộ không hợp với năm sinh của con "
                            "(cách %(low)s–%(high)s năm): hãy kiểm tra lại.")
ID_FORMAT = gettext_noop("Số định danh cá nhân phải gồm đúng 12 chữ số: hãy nhập lại theo CCCD "
                         "hoặc giấy khai sinh.")
ID_PREFIX = gettext_noop("Ba chữ số đầu của số định danh không phải mã tỉnh hay mã nước: hãy đối "
                         "chiếu với CCCD hoặc giấy khai sinh.")
ID_CENTURY = gettext_noop("Chữ số thứ 4 của số định danh (giới tính/thế kỷ) lớn hơn 5, không "
                          "dùng cho người đang sống: hãy đối chiếu với CCCD hoặc giấy khai sinh.")
ID_SEX = gettext_noop("Chữ số thứ 4 của số định danh (giới tính/thế kỷ) không khớp với giới tính: "
                      "hãy đối chiếu giới tính và số định danh với giấy tờ.")
ID_YEAR = gettext_noop("Số định danh cho năm sinh khác với ngày sinh: hãy đối chiếu ngày sinh và "
                       "số định danh với giấy tờ.")
ID_SHARED = gettext_noop("Số định danh này đang được ghi cho người khác: hãy kiểm tra lại, một "
                         "trong hai hồ sơ đã ghi sai.")
PHONE_FORMAT = gettext_noop("Số điện thoại không đúng định dạng Việt Nam (di động 10 số 03/05/07/"
                            "08/09, cố định 11 số 02): hãy hỏi lại gia đình.")
PHONE_DUMMY = gettext_noop("Số điện thoại là số giả (toàn một chữ số hoặc dãy số mẫu): hãy hỏi "
                           "lại số thật.")
NAME_PLACEHOLDER = gettext_noop("Họ tên là giá trị tạm («test», «không có»…): hãy nhập họ tên thật "
                                "theo giấy tờ.")
NAME_CHARACTERS = gettext_noop("Họ tên có chữ số hoặc ký hiệu: hãy nhập lại theo giấy tờ.")
NAME_REPEATED = gettext_noop("Họ tên có một chữ cái lặp nhiều lần liên tiếp: hãy nhập lại theo "
                             "giấy tờ.")
NAME_KEYBOARD = gettext_noop("Họ tên giống gõ phím bừa («asdf»…): hãy nhập lại theo giấy tờ.")
TEXT_JUNK = gettext_noop("«%(label)s» là giá trị tạm hoặc gõ bừa: hãy nhập nội dung thật hoặc để "
                         "trống nếu chưa có.")
NOT_ATTESTED = gettext_noop("Nhóm «%(group)s» chưa được đối chiếu với hồ sơ gốc (hoặc đã sửa sau "
                            "khi đối chiếu): hãy đối chiếu và xác nhận.")
NOT_VERIFIED = gettext_noop("Nhân thân chưa được xác thực với CSDL quốc gia về dân cư: hãy gửi "
                            "xác thực.")
DUPLICATE_OPEN = gettext_noop("Có hồ sơ nghi trùng với người này đang chờ xem xét: hãy mở danh "
                              "sách nghi trùng và gộp, hoặc ghi nhận không phải cùng một người.")
UPSTREAM_PENDING = gettext_noop("Thay đổi mới nhất chưa được CSDL ngành xác nhận: thường chỉ vài "
                                "giây; nếu kéo dài, cán bộ CNTT xem lý do ở màn hình «Đồng bộ "
                                "lên CSDL ngành».")
STALE = gettext_noop("Nhóm thông tin «%(group)s» đã quá hạn xác nhận lại: hãy xác nhận hoặc cập "
                     "nhật.")


def _label(info: FieldInfo | None, name: str) -> str:
    return info.label if info is not None else name


def build_rule_set(catalogue: Catalogue, *, code_lists: Callable[[str], Iterable[str]],
                   id_prefixes: Iterable[str], parameters: Parameters) -> RuleSet:
    """All rules for the catalogue version and parameters given. ``code_lists`` returns the
    codes of a list by name; ``id_prefixes`` the known 3-digit personal-ID place codes."""
    raw = parameters.raw
    basis = raw["basis"]
    age, junk = raw["age"], raw["junk"]
    prefixes = frozenset(id_prefixes)
    rules: list[Rule] = []

    def add(**values: Any) -> None:
        values.setdefault("params", {})
        rules.append(Rule(**values))

    for entity in ENTITIES:
        fields = {info.name: info for info in catalogue.for_entity(entity)}

        # đủ: required fields, per level and status.
        for info in fields.values():
            if not info.required:
                continue
            guard: Check | None = None
            if info.required_levels:
                guard = OneOf("school_level", frozenset(info.required_levels))
            if info.required_statuses:
                status = OneOf("status_code", frozenset(info.required_statuses))
                guard = status if guard is None else guard & status
            add(code=f"du.{entity}.{info.name}", dimension=Dimension.COMPLETE,
                severity=Severity.WARNING, entity=entity, fields=(info.name,),
                template=MISSING, params={"label": info.label}, basis=info.legal_basis,
                check=Blank(info.name), applies=guard, weight=3)

        # đúng: codes in their lists.
        for info in fields.values():
            if not info.code_list or info.name.endswith("_codes"):
                continue
            add(code=f"dung.{entity}.{info.name}.code", dimension=Dimension.CORRECT,
                severity=Severity.ERROR, entity=entity, fields=(info.name,),
                template=NOT_IN_LIST, params={"label": info.label, "list": info.code_list},
                basis=basis["catalogue"],
                check=NotInList(info.name, frozenset(code_lists(info.code_list))), weight=3)

        # đúng: dates and ages.
        earliest = dt.date.fromisoformat(age["earliest_birth_date"])
        if "date_of_birth" in fields:
            add(code=f"dung.{entity}.date_of_birth.range", dimension=Dimension.CORRECT,
                severity=Severity.ERROR, entity=entity, fields=("date_of_birth",),
                template=BIRTH_DATE_RANGE, params={"earliest": earliest.strftime("%d/%m/%Y")},
                basis=basis["plan"], check=DateOutside("date_of_birth", earliest), weight=3)
        if entity == "student":
            school_grades = frozenset(str(g) for g in range(1, 13))
            add(code="dung.student.date_of_birth.grade", dimension=Dimension.CORRECT,
                severity=Severity.WARNING, entity=entity, fields=("date_of_birth",),
                template=PUPIL_AGE, params={"low": str(age["pupil_low"] + 1),
                                            "high": str(age["pupil_high"] + 1)},
                basis=basis["school_age"], applies=OneOf("grade", school_grades),
                check=YearDifferenceOutside("start_year", "date_of_birth", age["pupil_low"],
                                            age["pupil_high"], offset_column="grade"), weight=2)
            add(code="dung.student.date_of_birth.preschool", dimension=Dimension.CORRECT,
                severity=Severity.WARNING, entity=entity, fields=("date_of_birth",),
                template=PRESCHOOL_AGE, params={"low": str(age["preschool_low"]),
                                                "high": str(age["preschool_high"])},
                basis=basis["school_age"], applies=OneOf("grade", frozenset({"0"})),
                check=YearDifferenceOutside("start_year", "date_of_birth",
                                            age["preschool_low"], age["preschool_high"]),
                weight=2)
        if entity == "staff":
            add(code="dung.staff.date_of_birth.age", dimension=Dimension.CORRECT,
                severity=Severity.WARNING, entity=entity, fields=("date_of_birth",),
                template=STAFF_AGE, params={"low": str(age["staff_low"]),
                                            "high": str(age["staff_high"])},
                basis=basis["plan"],
                check=YearDifferenceOutside(TODAY, "date_of_birth", age["staff_low"],
                                            age["staff_high"]), weight=2)
        if entity == "guardian":
            add(code="dung.guardian.birth_year.child", dimension=Dimension.CORRECT,
                severity=Severity.WARNING, entity=entity, fields=("birth_year",),
                template=GUARDIAN_AGE, params={"low": str(age["guardian_gap_low"]),
                                               "high": str(age["guardian_gap_high"])},
                basis=basis["plan"],
                check=YearDifferenceOutside("child_birth", "birth_year",
                                            age["guardian_gap_low"], age["guardian_gap_high"]),
                weight=2)

        # đúng: the personal ID's structure against the record.
        if "personal_id_number" in fields:
            pid = "personal_id_number"
            add(code=f"dung.{entity}.{pid}.format", dimension=Dimension.CORRECT,
                severity=Severity.ERROR, entity=entity, fields=(pid,), template=ID_FORMAT,
                basis=basis["personal_id"],
                check=Not(Blank(pid)) & Not(Matches(pid, r"^[0-9]{12}$")), weight=3)
            add(code=f"dung.{entity}.{pid}.prefix", dimension=Dimension.CORRECT,
                severity=Severity.WARNING, entity=entity, fields=(pid,), template=ID_PREFIX,
                basis=basis["personal_id"],
                check=PersonalIdDisagrees(pid, "prefix", prefixes=prefixes), weight=2)
            add(code=f"dung.{entity}.{pid}.century", dimension=Dimension.CORRECT,
                severity=Severity.WARNING, entity=entity, fields=(pid,), template=ID_CENTURY,
                basis=basis["personal_id"], check=PersonalIdDisagrees(pid, "century"),
                weight=2)
            if "sex" in fields:
                add(code=f"dung.{entity}.{pid}.sex", dimension=Dimension.CORRECT,
                    severity=Severity.WARNING, entity=entity, fields=(pid, "sex"),
                    template=ID_SEX, basis=basis["personal_id"],
                    check=PersonalIdDisagrees(pid, "sex", other="sex"), weight=2)
            if "date_of_birth" in fields:
                add(code=f"dung.{entity}.{pid}.year", dimension=Dimension.CORRECT,
                    severity=Severity.WARNING, entity=entity, fields=(pid, "date_of_birth"),
                    template=ID_YEAR, basis=basis["personal_id"],
                    check=PersonalIdDisagrees(pid, "year", other="date_of_birth"), weight=2)
            add(code=f"sach.{entity}.{pid}.shared", dimension=Dimension.CLEAN,
                severity=Severity.WARNING, entity=entity, fields=(pid,), template=ID_SHARED,
                basis=basis["plan"], check=IsTrue("personal_id_shared"), weight=3)

        # đúng / sạch: phone numbers.
        if "phone" in fields:
            add(code=f"dung.{entity}.phone.format", dimension=Dimension.CORRECT,
                severity=Severity.WARNING, entity=entity, fields=("phone",),
                template=PHONE_FORMAT, basis=basis["phone"],
                check=Not(Blank("phone")) & Not(Matches("phone", _PHONE)), weight=1)
            add(code=f"sach.{entity}.phone.dummy", dimension=Dimension.CLEAN,
                severity=Severity.WARNING, entity=entity, fields=("phone",),
                template=PHONE_DUMMY, basis=basis["plan"],
                check=LowerIn("phone", frozenset(junk["dummy_phones"]))
                | RepeatedCharacter("phone", junk["phone_repeated_digits"], digits=True),
                weight=2)

        # sạch: junk names and texts.
        add(code=f"sach.{entity}.full_name.placeholder", dimension=Dimension.CLEAN,
            severity=Severity.WARNING, entity=entity, fields=("full_name",),
            template=NAME_PLACEHOLDER, basis=basis["plan"],
            check=LowerIn("full_name", frozenset(junk["placeholder_names"])), weight=3)
        add(code=f"sach.{entity}.full_name.characters", dimension=Dimension.CLEAN,
            severity=Severity.WARNING, entity=entity, fields=("full_name",),
            template=NAME_CHARACTERS, basis=basis["plan"],
            check=Matches("full_name", junk["name_forbidden"]), weight=3)
        add(code=f"sach.{entity}.full_name.repeated", dimension=Dimension.CLEAN,
            severity=Severity.WARNING, entity=entity, fields=("full_name",),
            template=NAME_REPEATED, basis=basis["plan"],
            check=RepeatedCharacter("full_name", junk["repeated_characters"]), weight=3)
        add(code=f"sach.{entity}.full_name.keyboard", dimension=Dimension.CLEAN,
            severity=Severity.WARNING, entity=entity, fields=("full_name",),
            template=NAME_KEYBOARD, basis=basis["plan"],
            check=Matches("full_name", f"(?i){junk['keyboard_runs']}"), weight=3)
        for name in _TEXT_FIELDS[entity]:
            add(code=f"sach.{entity}.{name}.junk", dimension=Dimension.CLEAN,
                severity=Severity.WARNING, entity=entity, fields=(name,), template=TEXT_JUNK,
                params={"label": _label(fields.get(name), name)}, basis=basis["plan"],
                check=LowerIn(name, frozenset(junk["placeholder_texts"]))
                | RepeatedCharacter(name, junk["repeated_characters"])
                | Matches(name, f"(?i)^({junk['keyboard_runs']})"), weight=1)

        # Status: attested groups (đúng), identity verified (sạch), confirmed in time (sống).
        if entity == "guardian":
            continue
        for group in parameters.groups_for(entity):
            add(code=f"dung.{entity}.attested.{group.code}", dimension=Dimension.CORRECT,
                severity=Severity.INFO, entity=entity, fields=group.fields,
                template=NOT_ATTESTED, params={"group": group.label}, basis=basis["plan"],
                check=Not(IsTrue(group.column)), kind=Kind.STATUS)
        add(code=identity_rule_code(entity), dimension=Dimension.CLEAN,
            severity=Severity.INFO, entity=entity, fields=("personal_id_number",),
            template=NOT_VERIFIED, basis=basis["population"],
            check=Not(IsTrue("identity_verified")), kind=Kind.STATUS)
        used_groups = {info.update_group for info in fields.values()}
        for code, group_info in sorted(catalogue.update_groups.items()):
            if code not in used_groups or not group_info.max_age_days:
                continue
            group_fields = tuple(n for n, f in fields.items() if f.update_group == code)
            add(code=f"song.{entity}.{code}", dimension=Dimension.LIVE,
                severity=Severity.INFO, entity=entity, fields=group_fields, template=STALE,
                params={"group": group_info.label}, basis=basis["plan"],
                check=OlderThan(f"confirmed_{code}", group_info.max_age_days),
                kind=Kind.STATUS)
        # Last of the pupil's status rules, so the bits stored before it keep their meaning.
        if entity == "student":
            add(code=DUPLICATE_RULE_CODE, dimension=Dimension.CLEAN, severity=Severity.INFO,
                entity=entity, fields=("full_name",), template=DUPLICATE_OPEN,
                basis=basis["plan"], check=IsTrue(DUPLICATE_COLUMN), kind=Kind.STATUS)
            # After it, for the same reason.
            add(code=UPSTREAM_RULE_CODE, dimension=Dimension.LIVE, severity=Severity.INFO,
                entity=entity, fields=("education_id",), template=UPSTREAM_PENDING,
                basis=basis["plan"], check=IsTrue(UPSTREAM_COLUMN), kind=Kind.STATUS)

    expiring = {code: info.max_age_days for code, info in catalogue.update_groups.items()
                if info.max_age_days}
    return RuleSet(version=f"{parameters.version}/{catalogue.version}", rules=tuple(rules),
                   parameters=parameters, update_groups=expiring)
