from tests.sync.sim_process import upstream_simulator  # noqa: F401 - a fixture
