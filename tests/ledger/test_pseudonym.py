"""Pseudonyms and crypto-shredding: erasing a secret unlinks entries, the log stays valid."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from ledger import checkpoint as notes
from ledger import keys, merkle
from ledger.log import open_ledger
from ledger.pseudonym import PseudonymError, pseudonym
from ledger.verify import verify_store
from tests.ledger.conftest import ORIGIN
from tests.ledger.samples import disclosure

pytestmark = pytest.mark.anyio


def test_pseudonym_is_hmac_sha256_of_the_subject_id() -> None:
    secret = bytes(range(32))
    expected = hmac.new(secret, b"person-42", hashlib.sha256).hexdigest()
    assert pseudonym("person-42", secret) == expected
    assert pseudonym("person-43", secret) != expected
    assert pseudonym("person-42", bytes(32)) != expected
    with pytest.raises(PseudonymError):
        pseudonym("", secret)


async def test_erasing_a_subject_unlinks_its_entries_and_keeps_every_proof(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger(ledger_url, log_signer, ORIGIN) as ledger:
        alice = await ledger.pseudonym("person-alice")
        assert alice == await ledger.pseudonym("person-alice")  # stable while the secret lives
        bob = await ledger.pseudonym("person-bob")
        assert alice != bob and "person" not in alice
        receipts = [await ledger.append(disclosure(n, subject=alice)) for n in range(3)]
        await ledger.append(disclosure(3, subject=bob))
        before = await ledger.checkpoint()

        assert await ledger.erase_subject("person-alice")
        assert not await ledger.erase_subject("person-alice")  # nothing left to erase
        # The same identifier now maps elsewhere: the old entries no longer link to it.
        assert await ledger.pseudonym("person-alice") != alice
        assert await ledger.pseudonym("person-bob") == bob

        # The log, its checkpoint and the proofs for the unlinked entries are untouched.
        assert await ledger.checkpoint() == before
        cp = notes.open_checkpoint(before, log_signer.verifier)
        for receipt in receipts:
            proof = await ledger.inclusion_proof(receipt.index, cp.size)
            merkle.verify_inclusion(receipt.index, cp.size, receipt.leaf_hash, proof, cp.root)
        assert [e.body["subject"] for e in await ledger.entries(0, 3)] == [alice] * 3
    verify_store(ledger_url, log_signer.verifier)
