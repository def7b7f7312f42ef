"""The sector-database simulator, run as its own process (``edureg sim upstream --port 0``) and
spoken to over real HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edureg.sync.upstream.contract import CHANGES_PATH
from tests.sync.sim_process import (
    SimulatorProcess,
    applied_changes,
    applied_summary,
    upstream_simulator_process,
)

DEFAULT_FAULTS = {"latency_ms": 0, "fail_rate": 0.0, "malformed_rate": 0.0, "down": False,
                  "seed": None}
NAME = "Nguyễn Thị Hoà"
BORN = "2019-05-01"
STUDENT = {"full_name": NAME, "date_of_birth": BORN, "sex": "F", "ethnicity": "01"}


def change(change_id: str = "ev-1", record_id: int = 1, sequence: int = 1, *,
           entity: str = "student", education_id: str | None = None,
           temporary_code: str | None = "T-79-000001", **fields: Any) -> dict[str, Any]:
    return {"change_id": change_id, "entity": entity, "record_id": record_id,
            "sequence": sequence, "school_code": "79760101", "education_id": education_id,
            "temporary_code": temporary_code, "fields": {**STUDENT, **fields}}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with upstream_simulator_process() as running:
        yield running
        assert running.process.poll() is None  # served every test without dying


@pytest.fixture(scope="module")
def http(sim: SimulatorProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=sim.auth, timeout=10) as client:
        yield client


@pytest.fixture
def client(http: httpx.Client) -> httpx.Client:
    """A client to a simulator with no faults, an empty file and zero stats."""
    assert http.post("/_sim/control", json=DEFAULT_FAULTS).status_code == 200
    assert http.post("/_sim/reset").status_code == 200
    return http


def push(client: httpx.Client, *changes: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(CHANGES_PATH, json={"changes": list(changes)})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert [r["change_id"] for r in results] == [c["change_id"] for c in changes]
    return results


def stats(client: httpx.Client) -> dict[str, int]:
    counted: dict[str, int] = client.get("/_sim/stats").json()
    return counted


def test_a_valid_change_is_accepted_and_recorded(client: httpx.Client,
                                                 sim: SimulatorProcess) -> None:
    [result] = push(client, change())
    assert result["status"] == "accepted"
    assert result["field_errors"] == {}
    assert re.fullmatch(r"99[0-9]{8}", result["education_id"])
    assert result["acknowledged_at"].endswith("+00:00")
    [applied] = applied_changes(sim.url, record_id=1)
    assert (applied["change_id"], applied["sequence"], applied["fields"]) == ("ev-1", 1, STUDENT)
    assert applied["education_id"] == result["education_id"]
    assert stats(client) == {"received": 1, "applied": 1, "duplicates": 0, "stale": 0,
                             "rejected": 0}


def test_a_change_id_sent_again_is_a_duplicate_and_applied_once(client: httpx.Client,
                                                                sim: SimulatorProcess) -> None:
    [first] = push(client, change())
    again = push(client, change(), change())  # a later retry, and a repeat within one batch
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert {r["education_id"] for r in again} == {first["education_id"]}
    assert len(applied_changes(sim.url, record_id=1)) == 1
    assert applied_summary(sim.url) == {"records": 1, "changes": 1,
                                        "max_applications_per_change": 1}
    assert stats(client)["duplicates"] == 2


def test_an_older_or_equal_sequence_is_stale_and_not_applied(client: httpx.Client,
                                                             sim: SimulatorProcess) -> None:
    results = push(client, change("ev-5", sequence=5), change("ev-3", sequence=3),
                   change("ev-5b", sequence=5), change("ev-6", sequence=6, full_name="Hoà"))
    assert [r["status"] for r in results] == ["accepted", "stale", "stale", "accepted"]
    assert len({r["education_id"] for r in results}) == 1  # the record's id, stale or not
    assert [a["change_id"] for a in applied_changes(sim.url, record_id=1)] == ["ev-5", "ev-6"]
    assert stats(client)["stale"] == 2


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"full_name": None}, "full_name", "Họ và tên (full_name) là bắt buộc."),
    ({"full_name": "  "}, "full_name", "Họ và tên (full_name) là bắt buộc."),
    ({"date_of_birth": None}, "date_of_birth", "Ngày sinh (date_of_birth) là bắt buộc."),
    ({"date_of_birth": "2019-02-30"}, "date_of_birth", "không hợp lệ"),
    ({"date_of_birth": "01/05/2019"}, "date_of_birth", "dạng yyyy-mm-dd"),
    ({"date_of_birth": "20190501"}, "date_of_birth", "không hợp lệ"),
    ({"sex": None}, "sex", "Giới tính (sex) là bắt buộc."),
    ({"sex": "nữ"}, "sex", "Giới tính (sex) phải là M (nam) hoặc F (nữ)."),
], ids=["no-name", "blank-name", "no-birth-date", "not-a-real-date", "not-iso", "basic-iso",
        "no-sex", "sex-not-code"])
def test_a_student_without_valid_required_fields_is_rejected_in_vietnamese(
        client: httpx.Client, sim: SimulatorProcess, fields: dict[str, Any], field: str,
        reason: str) -> None:
    [result] = push(client, change(**fields))
    assert result["status"] == "rejected"
    assert list(result["field_errors"]) == [field]
    assert reason in result["field_errors"][field]
    assert result["education_id"] is None
    assert applied_changes(sim.url, record_id=1) == []
    assert stats(client)["rejected"] == 1


def test_every_missing_field_is_named(client: httpx.Client) -> None:
    bare = {**change(), "fields": {}}
    [result] = push(client, bare)
    assert set(result["field_errors"]) == {"full_name", "date_of_birth", "sex"}


def test_an_unknown_entity_is_rejected(client: httpx.Client) -> None:
    [result] = push(client, change(entity="teacher"))
    assert result["status"] == "rejected"
    assert result["field_errors"] == {"entity": "Loại hồ sơ không được hỗ trợ (chỉ nhận: student)."}


def test_a_rejected_change_can_be_sent_again_once_fixed(client: httpx.Client) -> None:
    [refused] = push(client, change(sex="X"))
    [fixed] = push(client, change())  # the same change id, after the IT officer's fix
    assert (refused["status"], fixed["status"]) == ("rejected", "accepted")


def test_an_official_id_is_issued_once_per_record_and_kept(client: httpx.Client) -> None:
    first, other = push(client, change("ev-1", record_id=1), change("ev-2", record_id=2))
    assert first["education_id"] != other["education_id"]
    [later] = push(client, change("ev-3", record_id=1, sequence=2, temporary_code="T-new"))
    assert later["education_id"] == first["education_id"]
    [held] = push(client, change("ev-4", record_id=3, education_id="7901234567",
                                 temporary_code=None))
    assert held["education_id"] == "7901234567"
    [bad] = push(client, change("ev-5", record_id=4, education_id="79-0123"))
    assert bad["status"] == "rejected"
    assert set(bad["field_errors"]) == {"education_id"}
    [nothing] = push(client, change("ev-6", record_id=5, temporary_code=None))
    assert nothing["status"] == "rejected"
    assert set(nothing["field_errors"]) == {"temporary_code"}


def test_what_was_applied_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "upstream.sqlite3"
    with upstream_simulator_process(db=db) as sim, \
            httpx.Client(base_url=sim.url, headers=sim.auth, timeout=10) as client:
        first, _ = push(client, change("ev-1", record_id=1), change("ev-2", record_id=2))
    with upstream_simulator_process(db=db) as sim, \
            httpx.Client(base_url=sim.url, headers=sim.auth, timeout=10) as client:
        again, stale, new = push(client, change("ev-1", record_id=1),
                                 change("ev-0", record_id=1, sequence=0),
                                 change("ev-3", record_id=3))
        assert (again["status"], again["education_id"]) == ("duplicate", first["education_id"])
        assert stale["status"] == "stale"
        assert (new["status"], new["education_id"]) == ("accepted", "9900000003")
        assert applied_summary(sim.url) == {"records": 3, "changes": 3,
                                            "max_applications_per_change": 1}


@pytest.mark.parametrize("headers", [{"Authorization": ""},
                                     {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic c2ltOnNpbQ=="}],
                         ids=["none", "wrong", "basic"])
def test_a_push_without_the_token_is_refused(client: httpx.Client, sim: SimulatorProcess,
                                             headers: dict[str, str]) -> None:
    response = client.post(CHANGES_PATH, json={"changes": [change()]}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert applied_summary(sim.url)["changes"] == 0


def test_more_than_500_changes_are_refused_and_500_are_taken(client: httpx.Client,
                                                             sim: SimulatorProcess) -> None:
    batch = [change(f"ev-{i}", record_id=i) for i in range(1, 502)]
    response = client.post(CHANGES_PATH, json={"changes": batch})
    assert response.status_code == 413
    assert applied_summary(sim.url)["changes"] == 0
    results = push(client, *batch[:500])
    assert {r["status"] for r in results} == {"accepted"}
    assert len({r["education_id"] for r in results}) == 500


@pytest.mark.parametrize("body", [
    b"{not json", b"{}", b'{"changes": []}', b'{"changes": [{"change_id": "ev 1"}]}',
], ids=["not-json", "no-changes", "empty", "bad-change"])
def test_a_batch_outside_the_contract_is_422(client: httpx.Client, body: bytes) -> None:
    response = client.post(CHANGES_PATH, content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_batch"


def test_down_and_failures_answer_503_before_applying(client: httpx.Client,
                                                      sim: SimulatorProcess) -> None:
    client.post("/_sim/control", json={"down": True})
    assert client.get("/_sim/health").json() == {"ok": True, "down": True}
    assert client.post(CHANGES_PATH, json={"changes": [change()]}).status_code == 503
    client.post("/_sim/control", json={"down": False, "fail_rate": 1.0})
    assert client.post(CHANGES_PATH, json={"changes": [change()]}).status_code == 503
    assert applied_summary(sim.url)["changes"] == 0
    assert stats(client)["received"] == 0


def test_a_malformed_answer_comes_after_the_batch_is_applied(client: httpx.Client,
                                                             sim: SimulatorProcess) -> None:
    client.post("/_sim/control", json={"malformed_rate": 1.0, "seed": 3})
    response = client.post(CHANGES_PATH, json={"changes": [change()]})
    assert response.status_code == 200
    assert applied_summary(sim.url)["changes"] == 1
    client.post("/_sim/control", json={"malformed_rate": 0.0})
    [result] = push(client, change())
    assert result["status"] == "duplicate"


def test_latency_delays_the_answer(client: httpx.Client) -> None:
    client.post("/_sim/control", json={"latency_ms": 300})
    started = time.monotonic()
    push(client, change())
    assert time.monotonic() - started >= 0.3


def test_control_shows_and_refuses_settings(client: httpx.Client) -> None:
    answer = client.post("/_sim/control", json={"fail_rate": 0.25}).json()
    assert answer == {**DEFAULT_FAULTS, "fail_rate": 0.25}
    assert client.get("/_sim/control").json() == answer
    for bad in ({"fail_rate": 2}, {"down": "yes"}, {"quota": 1}, {"latency_ms": -1}):
        assert client.post("/_sim/control", json=bad).status_code == 400


def test_reset_empties_the_file(client: httpx.Client, sim: SimulatorProcess) -> None:
    push(client, change())
    assert client.post("/_sim/reset").status_code == 200
    assert applied_summary(sim.url) == {"records": 0, "changes": 0,
                                        "max_applications_per_change": 0}
    [result] = push(client, change())
    assert (result["status"], result["education_id"]) == ("accepted", "9900000001")


def test_log_lines_carry_no_personal_data(client: httpx.Client, sim: SimulatorProcess) -> None:
    push(client, change(), change("ev-2", record_id=2, date_of_birth="2019-13-01"))
    applied_changes(sim.url, record_id=1)
    time.sleep(0.1)
    log = sim.log.read_text(encoding="utf-8")
    assert "POST /v1/changes 200 changes=2 applied=1" in log
    for secret in (NAME, "Nguyễn", BORN, "2019-13-01", "T-79-000001", "record_id="):
        assert secret not in log
