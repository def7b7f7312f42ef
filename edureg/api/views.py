"""REST API, v1: the OpenAPI 3 document at /api/v1/openapi.json (Swagger UI at /api/v1/docs).
Staff sign in with their session; agencies use OAuth2 bearer tokens (``edureg.api.sharing``).
Endpoints parse, call a selector, and shape the answer. Every answer an operation can give —
refusals and invalid parameters included — is declared in its ``response``, in Vietnamese
``ErrorOut`` form; tests/contract holds the running app to the document with schemathesis."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Status, Swagger
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import SessionAuth

from edureg.api import sharing
from edureg.api.schemas import (
    CodeEntryOut,
    CodeListOut,
    CodeListSummary,
    ErrorOut,
    ParameterErrorOut,
    StudentOut,
    ValidationErrorOut,
)
from edureg.core.codelists import UnknownCodeListError, available_versions, get_list, list_names
from edureg.privacy.policy import visibility_for
from edureg.registry.models import Student
from edureg.registry.selectors import class_list, student_get

# Swagger UI comes from our static files ("ninja" in INSTALLED_APPS) and must not send the
# schema's address to the public validator (issue 7: no third-party hosts in pages).
api = NinjaAPI(
    title="edureg API", version="1", urls_namespace="api", auth=SessionAuth(),
    docs=Swagger(settings={"validatorUrl": None}),
    description=(
        "API của CSDL ngành Giáo dục và Đào tạo.\n\n"
        "- Cán bộ (SessionAuth): phiên đăng nhập của tài khoản cá nhân (/dang-nhap/), trong "
        "phạm vi vị trí việc làm; hồ sơ ngoài phạm vi trả lời 404 như hồ sơ không có.\n"
        "- Cơ quan nhận dữ liệu (AgencyToken): mã truy cập lấy bằng POST /o/token/ "
        "(OAuth2 client credentials: grant_type=client_credentials, client_id và "
        "client_secret qua HTTP Basic), gửi trong tiêu đề Authorization: Bearer; mỗi mã "
        "chỉ dùng được theo thoả thuận chia sẻ gắn với client.\n"
        "- Lỗi: JSON {\"detail\": \"…\"} bằng tiếng Việt; tham số không hợp lệ (422) kèm "
        "danh sách \"errors\" (vị trí, tên tham số, mã lỗi)."),
)

# Agencies' look-ups under sharing agreements (OAuth2 bearer tokens, not staff sessions).
SHARING_PREFIX = "/sharing"


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(request, {"detail": _("Không có quyền.")}, status=403)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(request, {"detail": _("Không tìm thấy.")}, status=404)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The sharing API takes bearer tokens only, and says so as RFC 6750 asks.
    if request.path.startswith(api.get_root_path({}) + SHARING_PREFIX.strip("/") + "/"):
        response = api.create_response(request, {"detail": _(
            "Thiếu mã truy cập: gửi mã lấy từ /o/token/ trong tiêu đề Authorization: Bearer."
        )}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        response["Cache-Control"] = "no-store"
        return response
    return api.create_response(request, {"detail": _(
        "Chưa đăng nhập, hoặc phiên làm việc đã hết hạn: hãy đăng nhập lại.")}, status=401)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: Exception) -> HttpResponse:
    assert isinstance(exc, ValidationError)
    errors = [ParameterErrorOut(location=str(error["loc"][0]) if error["loc"] else "",
                                name=".".join(str(part) for part in error["loc"][1:]),
                                code=str(error["type"]))
              for error in exc.errors]
    names = ", ".join(dict.fromkeys(error.name or error.location for error in errors))
    body = ValidationErrorOut(detail=_("Tham số không hợp lệ: %(names)s.") % {"names": names},
                              errors=errors)
    return api.create_response(request, body.model_dump(), status=422)


api.add_router(SHARING_PREFIX, sharing.router)
api.add_exception_handler(sharing.SharingRefused, sharing.refused)


@api.get("/code-lists", response=list[CodeListSummary], auth=None, tags=["danh mục"])
def code_lists(request: HttpRequest) -> list[CodeListSummary]:
    """Code lists (danh mục dùng chung) with their current version; public master data."""
    result = []
    for name in list_names():
        current = get_list(name)
        result.append(CodeListSummary(name=name, version=current.version,
                                      versions=available_versions(name),
                                      entries=len(current.entries)))
    return result


@api.get("/code-lists/{name}", response={200: CodeListOut, 404: ErrorOut}, auth=None,
         tags=["danh mục"])
def code_list(request: HttpRequest, name: str, version: str | None = None,
              parent: str | None = None) -> Status[CodeListOut | ErrorOut]:
    try:
        found = get_list(name, version)
    except UnknownCodeListError:
        detail = f"Không có danh mục “{name}” (phiên bản {version or 'hiện hành'})."
        return Status(404, ErrorOut(detail=detail))
    entries = [e for e in found.entries if parent is None or e.parent == parent]
    return Status(200, CodeListOut(
        name=found.name, version=found.version, valid_from=found.valid_from, source=found.source,
        entries=[CodeEntryOut(code=e.code, name=e.name, parent=e.parent, aliases=list(e.aliases))
                 for e in entries],
    ))


def _student_out(request: HttpRequest, student: Student) -> StudentOut:
    shown = visibility_for(request.user, "student", school_id=student.school_id)

    def show(name: str) -> str | None:
        value = shown.show(name, getattr(student, name))
        return None if value is None else str(value)

    return StudentOut(
        id=student.pk, code=student.code, full_name=student.full_name,
        date_of_birth=student.date_of_birth, sex=student.sex, school_id=student.school_id,
        class_id=student.current_class_id, ethnicity_code=show("ethnicity_code"),
        religion_code=show("religion_code"), personal_id_number=show("personal_id_number"),
        phone=show("phone"),
    )


@api.get("/students/{student_id}", response={200: StudentOut, 401: ErrorOut, 403: ErrorOut,
                                              404: ErrorOut, 422: ValidationErrorOut},
         tags=["học sinh"])
def student_detail(request: HttpRequest, student_id: int) -> StudentOut:
    return _student_out(request, student_get(actor=request.user, student_id=student_id,
                                             audit_view="api.student_detail"))


@api.get("/classes/{class_id}/students", response={200: list[StudentOut], 401: ErrorOut,
                                                    403: ErrorOut, 404: ErrorOut,
                                                    422: ValidationErrorOut},
         tags=["học sinh"])
def class_students(request: HttpRequest, class_id: int) -> list[StudentOut]:
    """A class's pupils in Vietnamese order (given name, middle name, family name)."""
    listing = class_list(actor=request.user, class_id=class_id)
    return [_student_out(request, s) for s in listing.students]
