"""Identity verification against the national population database (issue 5): the port to the
register, its real HTTP adapter and its simulator."""
