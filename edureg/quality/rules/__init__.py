"""Quality rules: pure definitions (no ORM). ``checks`` holds the building blocks with their two
evaluations; ``catalogue`` composes the rules from the field catalogue, the code lists and the
rule parameters (``edureg/quality/data/rules_*.toml``)."""
