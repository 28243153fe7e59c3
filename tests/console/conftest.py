"""The audit suite's world for the console tests: the four agencies, a fresh ledger with the
member network, and a real enforcing gateway on 127.0.0.1."""

from tests.audit.conftest import agencies, audit, data_dir, ledgered  # noqa: F401
