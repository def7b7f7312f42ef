"""Small-cell suppression of a whole table, with complementary suppression.

A table is a grid of counts of persons whose *lines* add up: with ``row_lines`` the last entry
of each row is the sum of the others (a row total), with ``column_lines`` the last entry of each
column is the sum of the others (a column total). Both together: a two-way table with its
margins and grand total, where the total row and the total column are lines too.

1. Primary: a count from 1 to ``threshold - 1`` is hidden (shown "<5"). Zero is shown: it is
   no person (and hiding it would not protect anyone else).
2. Complementary, the standard rule: a line with exactly one hidden entry gives it away by
   subtraction, so the smallest non-zero shown entry of that line is hidden too; repeated until
   no line has exactly one hidden entry (a fixpoint). A line whose hidden entries can add up to
   what its shown total leaves in one way only (two "<5" that must both be 1) counts as
   giving them away too.
3. In a two-way table the rule of 2 is not enough: hidden cells can still be solved from several
   lines together (two blocks of hidden cells joined by one cell). The lines form a bipartite
   graph (rows and columns as nodes, hidden cells as edges); a hidden cell is determined by the
   shown figures exactly when its edge is a bridge of that graph (it lies on no cycle). Each
   bridge gets one more hidden cell in its row or column, preferring one that closes a cycle
   through it, and steps 2–3 repeat.

What this does not defend against: bounds combined across several lines (a hidden cell is
known to be 1–4, a complementary one at least 5), which can narrow a hidden value to a range;
see docs/decisions.md.

Pure: no ORM, no Django.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

Position = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Suppression:
    primary: frozenset[Position]
    complementary: frozenset[Position]

    @property
    def hidden(self) -> frozenset[Position]:
        return self.primary | self.complementary


def _lines(rows: int, columns: int, *, row_lines: bool, column_lines: bool) -> list[list[Position]]:
    lines: list[list[Position]] = []
    if row_lines and columns > 1:
        lines += [[(i, j) for j in range(columns)] for i in range(rows)]
    if column_lines and rows > 1:
        lines += [[(i, j) for i in range(rows)] for j in range(columns)]
    return lines


def _pick(
    candidates: Sequence[Position], grid: Sequence[Sequence[int]], rows: int, columns: int
) -> Position:
    # Smallest value first (least information lost); then a cell before a total; then order.
    return min(
        candidates, key=lambda p: (grid[p[0]][p[1]], p[0] == rows - 1 or p[1] == columns - 1, p)
    )


def _exposed(
    line: Sequence[Position],
    grid: Sequence[Sequence[int]],
    hidden: set[Position],
    primary: set[Position],
    threshold: int,
) -> bool:
    """A line gives a hidden entry away: it is the only one hidden, or the line's total is
    shown and the hidden entries' sum can only be reached one way — every "<5" at 1 (or every
    one at 4, when all are "<5"), every "x" at its least."""
    inside = [p for p in line if p in hidden]
    if not inside:
        return False
    if len(inside) == 1:
        return True
    total = line[-1]
    if total in hidden:
        return False
    known = grid[total[0]][total[1]] - sum(grid[p[0]][p[1]] for p in line[:-1] if p not in hidden)
    least = sum(1 if p in primary else min(threshold, grid[p[0]][p[1]]) for p in inside)
    if known == least:
        return True
    return all(p in primary for p in inside) and known == len(inside) * (threshold - 1)


def _bridges(hidden: set[Position]) -> list[Position]:
    """The hidden cells that lie on no cycle of the row/column graph (Tarjan, iterative)."""
    adjacency: dict[tuple[str, int], list[tuple[tuple[str, int], Position]]] = {}
    for cell in hidden:
        row, column = ("r", cell[0]), ("c", cell[1])
        adjacency.setdefault(row, []).append((column, cell))
        adjacency.setdefault(column, []).append((row, cell))
    order: dict[tuple[str, int], int] = {}
    low: dict[tuple[str, int], int] = {}
    bridges: list[Position] = []
    counter = 0
    for root in sorted(adjacency):
        if root in order:
            continue
        order[root] = low[root] = counter
        counter += 1
        stack: list[tuple[tuple[str, int], Position | None, int]] = [(root, None, 0)]
        while stack:
            node, via, index = stack[-1]
            edges = adjacency[node]
            if index < len(edges):
                stack[-1] = (node, via, index + 1)
                neighbour, cell = edges[index]
                if cell == via:
                    continue
                if neighbour in order:
                    low[node] = min(low[node], order[neighbour])
                else:
                    order[neighbour] = low[neighbour] = counter
                    counter += 1
                    stack.append((neighbour, cell, 0))
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent] and via is not None:
                        bridges.append(via)
    return sorted(bridges)


def _component_of(
    start: tuple[str, int], hidden: set[Position], without: Position
) -> set[tuple[str, int]]:
    seen = {start}
    todo = [start]
    by_node: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for cell in hidden:
        if cell == without:
            continue
        by_node.setdefault(("r", cell[0]), []).append(("c", cell[1]))
        by_node.setdefault(("c", cell[1]), []).append(("r", cell[0]))
    while todo:
        for neighbour in by_node.get(todo.pop(), []):
            if neighbour not in seen:
                seen.add(neighbour)
                todo.append(neighbour)
    return seen


def suppress_grid(
    grid: Sequence[Sequence[int]], *, row_lines: bool, column_lines: bool, threshold: int = 5
) -> Suppression:
    """Which entries of ``grid`` to hide (see the module's docstring)."""
    if threshold < 1:
        raise ValueError(f"the small-cell threshold must be a positive int: {threshold!r}")
    rows = len(grid)
    columns = len(grid[0]) if rows else 0
    if any(len(row) != columns for row in grid):
        raise ValueError("every row of the grid must have the same number of entries")
    if any(value < 0 for row in grid for value in row):
        raise ValueError("a count of persons cannot be negative")
    primary = {(i, j) for i in range(rows) for j in range(columns) if 0 < grid[i][j] < threshold}
    hidden = set(primary)
    lines = _lines(rows, columns, row_lines=row_lines, column_lines=column_lines)
    two_way = row_lines and column_lines and rows > 1 and columns > 1
    while True:
        changed = True
        while changed:
            changed = False
            for line in lines:
                if not _exposed(line, grid, hidden, primary, threshold):
                    continue
                candidates = [p for p in line if p not in hidden and grid[p[0]][p[1]] > 0]
                if candidates:
                    hidden.add(_pick(candidates, grid, rows, columns))
                    changed = True
        if not two_way:
            break
        added = False
        for bridge in _bridges(hidden):
            if bridge not in hidden:
                continue
            row_side = _component_of(("r", bridge[0]), hidden, bridge)
            if ("c", bridge[1]) in row_side:
                continue  # an earlier addition already put it on a cycle
            same_row = [(bridge[0], j) for j in range(columns)]
            same_column = [(i, bridge[1]) for i in range(rows)]
            shown = [p for p in same_row + same_column if p not in hidden and grid[p[0]][p[1]] > 0]
            column_side = _component_of(("c", bridge[1]), hidden, bridge)
            closing = [
                p
                for p in shown
                if (p[0] == bridge[0] and ("c", p[1]) in column_side)
                or (p[1] == bridge[1] and ("r", p[0]) in row_side)
            ]
            # Last resort: any cell joining the two sides closes a cycle, a zero included
            # (hidden as "x", which is true of a zero too).
            joining = [
                (int(r[1]), int(c[1]))
                for r in row_side
                if r[0] == "r"
                for c in column_side
                if c[0] == "c"
            ]
            joining = [p for p in joining if p not in hidden]
            choice = closing or [p for p in joining if grid[p[0]][p[1]] > 0] or joining
            if choice:
                hidden.add(_pick(choice, grid, rows, columns))
                added = True
        if not added:
            break
    return Suppression(primary=frozenset(primary), complementary=frozenset(hidden - primary))
