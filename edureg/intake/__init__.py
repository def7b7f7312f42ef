"""Intake of the Ministry's and the Department's export workbooks (issue 9)."""
