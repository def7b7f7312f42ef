"""Report definitions as data: what a definition may say, and its validation.

A definition names a *source* (the population it counts: pupils enrolled on the reporting date,
status changes in the period, staff, classes, data-quality totals), one optional row dimension,
one optional column dimension, its measures and its filters — each by a name from the source's
whitelist below. Nothing in a definition reaches SQL except through this whitelist, so an
authority can add a definition without code and without being able to ask for a person.

Pure: no ORM. The SQL of each field lives with the query builder (``queries.py``).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from typing import Any, Final

FORMAT: Final = 1
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,59}$")
OPERATORS: Final = ("eq", "ne", "in", "not_in", "flag", "not_flag")


class DefinitionError(ValueError):
    """A definition that cannot be used; the message names the field and says why (Vietnamese)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    label: str
    # The code list giving the values' names (and the flags ``flag`` filters ask for), if any.
    code_list: str = ""
    # How a value is named when there is no code list: "grade", "school", "band" or "".
    labels: str = ""


@dataclasses.dataclass(frozen=True)
class Measure:
    name: str
    label: str
    # "count": an additive count; "ratio": numerator / denominator × scale, never added up.
    kind: str = "count"
    # A count of persons: small values are suppressed, and ratios built on it hide with it.
    persons: bool = True
    numerator: str = ""
    denominator: str = ""
    scale: float = 1.0
    decimals: int = 0


@dataclasses.dataclass(frozen=True)
class Source:
    name: str
    label: str
    fields: Mapping[str, Field]
    measures: Mapping[str, Measure]
    # "as_of": the population on the reporting date; "school_year": events from the start of
    # the school year that contains the reporting date up to it.
    period: str = "as_of"


def _fields(*items: Field) -> Mapping[str, Field]:
    return {item.name: item for item in items}


def _measures(*items: Measure) -> Mapping[str, Measure]:
    return {item.name: item for item in items}


_SCHOOL = Field("school", "Trường", labels="school")
_LEVEL = Field("school_level", "Cấp học", code_list="school_level")
_OWNERSHIP = Field("ownership", "Loại hình", labels="ownership")
_GRADE = Field("grade", "Khối lớp", labels="grade")
_SEX = Field("sex", "Giới tính", code_list="sex")

SOURCES: Final[Mapping[str, Source]] = {
    "pupils": Source(
        "pupils",
        "Học sinh đang theo học vào ngày báo cáo",
        _fields(
            _SCHOOL,
            _LEVEL,
            _OWNERSHIP,
            _GRADE,
            _SEX,
            Field("ethnicity", "Dân tộc", code_list="ethnicity"),
            Field("religion", "Tôn giáo", code_list="religion"),
            Field("nationality", "Quốc tịch", code_list="nationality"),
            Field("disability", "Loại khuyết tật", code_list="disability"),
            Field("policy_group", "Đối tượng chính sách", code_list="policy_group"),
            Field("status", "Trạng thái vào ngày báo cáo", code_list="enrolment_status"),
        ),
        _measures(Measure("pupils", "Số học sinh")),
    ),
    "status_changes": Source(
        "status_changes",
        "Thay đổi trạng thái học sinh trong năm học đến ngày báo cáo",
        _fields(
            _SCHOOL,
            _LEVEL,
            _OWNERSHIP,
            _GRADE,
            _SEX,
            Field("status", "Trạng thái mới", code_list="enrolment_status"),
        ),
        _measures(Measure("changes", "Số lượt thay đổi")),
        period="school_year",
    ),
    "staff": Source(
        "staff",
        "Cán bộ, giáo viên, nhân viên vào ngày báo cáo",
        _fields(
            _SCHOOL,
            _LEVEL,
            _OWNERSHIP,
            _SEX,
            Field("job_position", "Vị trí việc làm", code_list="job_position"),
            Field("position_group", "Nhóm chức vụ", code_list="position_group"),
            Field("qualification", "Trình độ đào tạo", code_list="qualification"),
            Field("employment_status", "Trạng thái làm việc", code_list="employment_status"),
            Field("ethnicity", "Dân tộc", code_list="ethnicity"),
            Field("age_band", "Nhóm tuổi", labels="band"),
        ),
        _measures(Measure("staff", "Số người")),
    ),
    "classes": Source(
        "classes",
        "Lớp học của năm học có ngày báo cáo",
        _fields(
            _SCHOOL, _LEVEL, _OWNERSHIP, _GRADE, Field("size_band", "Sĩ số lớp", labels="band")
        ),
        _measures(
            Measure("classes", "Số lớp", persons=False),
            Measure("pupils", "Số học sinh"),
            Measure(
                "average_size",
                "Sĩ số bình quân",
                kind="ratio",
                persons=False,
                numerator="pupils",
                denominator="classes",
                decimals=1,
            ),
        ),
    ),
    "quality": Source(
        "quality",
        "Điểm chất lượng dữ liệu (bản chụp gần nhất đến ngày báo cáo)",
        _fields(_SCHOOL, _LEVEL, _OWNERSHIP, Field("entity", "Loại hồ sơ", labels="entity")),
        _measures(
            Measure("records", "Số hồ sơ"),
            # Counts of records in a state of quality, not of persons (docs/decisions.md,
            # small-cell suppression): shown; their percentages hide with ``records``.
            Measure("correct_ok", "Hồ sơ đúng", persons=False),
            Measure("complete_ok", "Hồ sơ đủ", persons=False),
            Measure("clean_ok", "Hồ sơ sạch", persons=False),
            Measure("live_ok", "Hồ sơ sống", persons=False),
            *(
                Measure(
                    f"{name}_pct",
                    f"% {label}",
                    kind="ratio",
                    persons=False,
                    numerator=f"{name}_ok",
                    denominator="records",
                    scale=100.0,
                    decimals=1,
                )
                for name, label in (
                    ("correct", "đúng"),
                    ("complete", "đủ"),
                    ("clean", "sạch"),
                    ("live", "sống"),
                )
            ),
        ),
    ),
}


@dataclasses.dataclass(frozen=True)
class Filter:
    field: str
    op: str
    values: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ReportSpec:
    """One validated definition."""

    code: str
    title: str
    source: str
    rows: str | None
    columns: str | None
    measures: tuple[str, ...]
    filters: tuple[Filter, ...]
    description: str = ""
    basis: str = ""

    @property
    def source_info(self) -> Source:
        return SOURCES[self.source]

    def counts_needed(self) -> tuple[str, ...]:
        """The additive counts to query: the count measures and the ratios' operands."""
        wanted: list[str] = []
        for name in self.measures:
            measure = self.source_info.measures[name]
            for needed in (
                (measure.numerator, measure.denominator) if measure.kind == "ratio" else (name,)
            ):
                if needed not in wanted:
                    wanted.append(needed)
        return tuple(wanted)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT,
            "code": self.code,
            "title": self.title,
            "source": self.source,
            "measures": list(self.measures),
        }
        if self.description:
            data["description"] = self.description
        if self.basis:
            data["basis"] = self.basis
        if self.rows:
            data["rows"] = self.rows
        if self.columns:
            data["columns"] = self.columns
        if self.filters:
            data["filters"] = [
                {"field": f.field, "op": f.op, "value": list(f.values)} for f in self.filters
            ]
        return data


_KEYS: Final = frozenset(
    {
        "format",
        "code",
        "title",
        "source",
        "rows",
        "columns",
        "measures",
        "filters",
        "description",
        "basis",
    }
)


def _text(data: Mapping[str, Any], key: str, *, required: bool = True, limit: int = 300) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise DefinitionError(f"Thiếu hoặc sai «{key}»: phải là một chuỗi chữ không rỗng.")
    if len(value) > limit:
        raise DefinitionError(f"«{key}» dài quá {limit} ký tự.")
    return value.strip()


def _dimension(data: Mapping[str, Any], key: str, source: Source) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DefinitionError(f"«{key}» phải là tên một trường (chuỗi chữ).")
    if value not in source.fields:
        raise DefinitionError(
            f"Trường «{value}» (ở «{key}») không có trong danh sách được phép của nguồn "
            f"«{source.name}»; các trường dùng được: {', '.join(sorted(source.fields))}."
        )
    return value


def _filter(raw: object, source: Source, position: int) -> Filter:
    where = f"bộ lọc thứ {position}"
    if not isinstance(raw, Mapping) or set(raw) - {"field", "op", "value"}:
        raise DefinitionError(f"{where.capitalize()} phải có đúng các khoá field, op, value.")
    name = raw.get("field")
    if not isinstance(name, str) or name not in source.fields:
        raise DefinitionError(
            f"Trường «{name}» ({where}) không có trong danh sách được phép của nguồn "
            f"«{source.name}»; các trường dùng được: {', '.join(sorted(source.fields))}."
        )
    op = raw.get("op", "eq")
    if op not in OPERATORS:
        raise DefinitionError(
            f"Phép lọc «{op}» ({where}) không được hỗ trợ; dùng một trong: {', '.join(OPERATORS)}."
        )
    value = raw.get("value")
    values = tuple(value) if isinstance(value, list) else (value,)
    if not values or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        raise DefinitionError(f"Giá trị lọc ({where}) phải là chữ, số hoặc danh sách chữ/số.")
    if op in ("eq", "ne", "flag", "not_flag") and len(values) != 1:
        raise DefinitionError(f"Phép lọc «{op}» ({where}) nhận đúng một giá trị.")
    field = source.fields[name]
    if op in ("flag", "not_flag") and not field.code_list:
        raise DefinitionError(
            f"Trường «{name}» không theo danh mục nên không lọc theo cờ được ({where})."
        )
    return Filter(name, op, tuple(str(v) for v in values))


def parse_spec(data: Mapping[str, Any]) -> ReportSpec:
    """Validate a definition (the TOML document, or the stored JSON) against the whitelist."""
    unknown = set(data) - _KEYS
    if unknown:
        raise DefinitionError(
            f"Khoá không được hỗ trợ trong định nghĩa: {', '.join(sorted(unknown))}."
        )
    if data.get("format", FORMAT) != FORMAT:
        raise DefinitionError(
            f"Định dạng định nghĩa {data.get('format')!r} không được hỗ trợ (chỉ {FORMAT})."
        )
    code = _text(data, "code", limit=60)
    if not _CODE.match(code):
        raise DefinitionError(
            f"Mã báo cáo «{code}» chỉ gồm chữ thường không dấu, chữ số và "
            "dấu gạch dưới, bắt đầu bằng chữ."
        )
    source_name = data.get("source")
    if source_name not in SOURCES:
        raise DefinitionError(
            f"Nguồn dữ liệu «{source_name}» không có; dùng một trong: {', '.join(SOURCES)}."
        )
    source = SOURCES[str(source_name)]
    rows = _dimension(data, "rows", source)
    columns = _dimension(data, "columns", source)
    if rows is not None and rows == columns:
        raise DefinitionError("Hàng và cột không được là cùng một trường.")
    raw_measures = data.get("measures")
    if isinstance(raw_measures, str):
        raw_measures = [raw_measures]
    if not isinstance(raw_measures, list) or not raw_measures:
        raise DefinitionError("«measures» phải là danh sách các chỉ tiêu (ít nhất một).")
    measures: list[str] = []
    for name in raw_measures:
        if not isinstance(name, str) or name not in source.measures:
            raise DefinitionError(
                f"Chỉ tiêu «{name}» không có trong danh sách được phép của nguồn "
                f"«{source.name}»; các chỉ tiêu dùng được: {', '.join(source.measures)}."
            )
        if name in measures:
            raise DefinitionError(f"Chỉ tiêu «{name}» được nêu hai lần.")
        measures.append(name)
    if columns is not None and (len(measures) != 1 or source.measures[measures[0]].kind != "count"):
        raise DefinitionError("Bảng có cột theo một trường chỉ nhận đúng một chỉ tiêu đếm.")
    raw_filters = data.get("filters", [])
    if not isinstance(raw_filters, list):
        raise DefinitionError("«filters» phải là danh sách các bộ lọc.")
    filters = tuple(_filter(raw, source, n) for n, raw in enumerate(raw_filters, start=1))
    return ReportSpec(
        code=code,
        title=_text(data, "title", limit=200),
        source=source.name,
        rows=rows,
        columns=columns,
        measures=tuple(measures),
        filters=filters,
        description=_text(data, "description", required=False, limit=1000),
        basis=_text(data, "basis", required=False, limit=300),
    )


def parse_toml(text: str) -> ReportSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DefinitionError(f"Tệp định nghĩa không phải TOML hợp lệ: {error}.") from None
    return parse_spec(data)
