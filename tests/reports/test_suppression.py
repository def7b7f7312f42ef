"""Small-cell suppression of whole tables: primary cells, the rule of two per line, and the
property that matters — nothing hidden can be worked out from what is shown."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edureg.reports.suppression import suppress_grid


def with_margins(cells: list[list[int]]) -> list[list[int]]:
    grid = [[*row, sum(row)] for row in cells]
    grid.append([sum(row[j] for row in grid) for j in range(len(grid[0]))])
    return grid


def lines_of(grid: list[list[int]]) -> list[list[tuple[int, int]]]:
    rows, columns = len(grid), len(grid[0])
    return [[(i, j) for j in range(columns)] for i in range(rows)] + [
        [(i, j) for i in range(rows)] for j in range(columns)
    ]


def determined(grid: list[list[int]], hidden: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Hidden entries whose value follows from the shown ones through the table's sums
    (independent of the implementation: linear algebra on the equations of every line)."""
    unknowns = sorted(hidden)
    if not unknowns:
        return set()
    column_of = {cell: n for n, cell in enumerate(unknowns)}
    rows, columns = len(grid), len(grid[0])
    equations = []
    for i in range(rows):  # cells of a row minus its total = 0
        equation = np.zeros(len(unknowns))
        for j in range(columns):
            if (i, j) in column_of:
                equation[column_of[(i, j)]] = -1.0 if j == columns - 1 else 1.0
        equations.append(equation)
    for j in range(columns):
        equation = np.zeros(len(unknowns))
        for i in range(rows):
            if (i, j) in column_of:
                equation[column_of[(i, j)]] = -1.0 if i == rows - 1 else 1.0
        equations.append(equation)
    matrix = np.array(equations)
    rank = np.linalg.matrix_rank(matrix)
    found = set()
    for cell, n in column_of.items():
        # x_n is fixed by the system exactly when the unit vector e_n is in its row space.
        unit = np.zeros(len(unknowns))
        unit[n] = 1.0
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            found.add(cell)
    return found


@pytest.mark.parametrize(
    ("cells", "expected_primary"),
    [
        ([[10, 20], [30, 40]], set()),
        ([[0, 20], [30, 40]], set()),  # zero is no person: shown
        ([[3, 20], [30, 40]], {(0, 0)}),
        ([[1, 4], [30, 40]], {(0, 0), (0, 1)}),  # their row total, 5, is shown
    ],
)
def test_primary_cells_are_the_counts_from_one_to_four(
    cells: list[list[int]], expected_primary: set[tuple[int, int]]
) -> None:
    grid = with_margins(cells)
    result = suppress_grid(grid, row_lines=True, column_lines=True)
    assert set(result.primary) == expected_primary


def test_a_lone_small_cell_gets_a_partner_in_its_row_and_its_column() -> None:
    grid = with_margins([[3, 20, 25], [30, 40, 45], [50, 60, 65]])
    result = suppress_grid(grid, row_lines=True, column_lines=True)
    assert result.primary == {(0, 0)}
    hidden = result.hidden
    for line in lines_of(grid):
        assert sum(1 for p in line if p in hidden) != 1
    # The smallest neighbours were chosen: 20 in the row, 30 in the column.
    assert {(0, 1), (1, 0)} <= hidden
    assert not determined(grid, set(hidden))


def test_one_way_table_hides_the_next_smallest_count() -> None:
    grid = [[3], [12], [7], [22]]  # three rows and their total
    result = suppress_grid(grid, row_lines=False, column_lines=True)
    assert result.primary == {(0, 0)}
    assert result.complementary == {(2, 0)}


def test_small_total_is_hidden_too() -> None:
    grid = with_margins([[1, 0], [2, 0]])
    result = suppress_grid(grid, row_lines=True, column_lines=True)
    assert (2, 2) in result.hidden  # the grand total, 3
    assert not determined(grid, set(result.hidden))


def test_two_blocks_joined_by_one_cell_are_not_left_solvable() -> None:
    """The rule of two alone leaves a cell that joins two closed blocks solvable (a bridge);
    the table is protected further until it is not."""
    cells = [[2, 2, 9, 50], [2, 2, 50, 50], [50, 50, 3, 3], [50, 50, 3, 3]]
    grid = with_margins(cells)
    result = suppress_grid(grid, row_lines=True, column_lines=True)
    assert not determined(grid, set(result.hidden))


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        suppress_grid([[-1, 2]], row_lines=True, column_lines=False)


small_counts = st.one_of(st.integers(0, 6), st.integers(0, 60))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda columns: st.lists(
            st.lists(small_counts, min_size=columns, max_size=columns), min_size=1, max_size=7
        )
    )
)
def test_no_hidden_cell_of_a_two_way_table_can_be_derived(cells: list[list[int]]) -> None:
    grid = with_margins(cells)
    result = suppress_grid(grid, row_lines=True, column_lines=True)
    hidden = set(result.hidden)
    # Every count from 1 to 4 is hidden; nothing else is primary.
    assert result.primary == {
        (i, j) for i, row in enumerate(grid) for j, value in enumerate(row) if 0 < value < 5
    }
    # No line gives a hidden entry away by subtraction from its shown total...
    for line in lines_of(grid):
        assert sum(1 for p in line if p in hidden) != 1
    # ...nor do several lines together.
    assert not determined(grid, hidden)
    # ...nor the bounds a "<5" gives within a line: the hidden sum is not at its only value.
    for line in lines_of(grid):
        inside = [p for p in line if p in hidden]
        if inside and line[-1] not in hidden:
            left = grid[line[-1][0]][line[-1][1]] - sum(
                grid[p[0]][p[1]] for p in line[:-1] if p not in hidden
            )
            assert left != sum(
                1 if p in result.primary else min(5, grid[p[0]][p[1]]) for p in inside
            )
            if all(p in result.primary for p in inside):
                assert left != 4 * len(inside)


def test_two_hidden_ones_beside_a_shown_total_get_a_third() -> None:
    grid = with_margins([[1, 1, 30], [20, 20, 30]])
    result = suppress_grid(grid, row_lines=True, column_lines=True)
    row = [(0, j) for j in range(4)]
    assert sum(1 for p in row if p in result.hidden) >= 3


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(small_counts, min_size=1, max_size=3), min_size=1, max_size=8).filter(
        lambda rows: len({len(r) for r in rows}) == 1
    )
)
def test_no_hidden_cell_of_a_one_way_table_can_be_derived(cells: list[list[int]]) -> None:
    grid = [*cells, [sum(row[j] for row in cells) for j in range(len(cells[0]))]]
    result = suppress_grid(grid, row_lines=False, column_lines=True)
    for j in range(len(grid[0])):
        column = [(i, j) for i in range(len(grid))]
        hidden_in_column = [p for p in column if p in result.hidden]
        assert len(hidden_in_column) != 1
        if hidden_in_column:
            # What the shown figures say about the hidden ones is only their sum.
            shown_sum = sum(grid[i][j] for i, _ in column[:-1] if (i, j) not in result.hidden)
            if (len(grid) - 1, j) not in result.hidden:
                assert grid[-1][j] - shown_sum == sum(grid[i][j] for i, _ in hidden_in_column)
