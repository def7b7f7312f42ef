"""Statistical reports from live data (issue 11): report definitions as data, generated as of a
reporting date from the enrolment and status history, with small-cell suppression, exported as
XLSX or PDF. Reports hold counts, never persons."""
