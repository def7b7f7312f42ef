"""Demo and test data: ``edureg seed`` (see ``services.seed_database``).

``generator`` draws the rows (pure Python, one seeded random stream), ``loader`` bulk-writes them
(SQLite ``executemany``, PostgreSQL ``COPY``), ``register`` writes the population-register
simulator's data and the ground truth of planted problems to their own SQLite file.
"""
