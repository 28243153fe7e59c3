"""The plain HTTP read path and the C2SP tiles, checked against an independent computation:
the tree is recomputed here from the served entry bundles and tiles alone."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from app.ledger_http import LedgerReadPath, ledger_routes
from app.settings import Witness
from ledger import checkpoint as notes
from ledger import keys
from ledger.log import open_ledger
from tests.audit import world
from tests.enforcement.world import ServerThread, start_gateway, stop

ORIGIN = "accord.example/ledger"
SIZE = 700  # two full level-0 tiles and a partial one; a partial level-1 tile of two hashes


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def tree_hash(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, written from the definition (no shared code with the log)."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha256(b"\x01" + tree_hash(leaves[:k]) + tree_hash(leaves[k:]))


def tile_path(n: int) -> str:
    text = f"{n:03d}"
    if len(text) % 3:
        text = "0" * (3 - len(text) % 3) + text
    groups = [text[i : i + 3] for i in range(0, len(text), 3)]
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def unbundle(data: bytes) -> list[bytes]:
    entries, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at : at + 2], "big")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return entries


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, keys.Signer]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('log') / 'ledger.db'}"
    signer = keys.generate(ORIGIN)

    async def fill() -> None:
        async with open_ledger(url, signer, ORIGIN) as ledger:
            for start in range(0, SIZE, 100):
                await ledger.append_all(
                    world.disclosure(f"person-{i:04d}", ts=world.T0 + i)
                    for i in range(start, start + 100)
                )

    asyncio.run(fill())
    read_path = LedgerReadPath(url)
    server = ServerThread(Starlette(routes=ledger_routes(lambda: read_path))).start()
    try:
        yield server.url, signer
    finally:
        server.stop()
        read_path.close()


def test_tiles_and_entry_bundles_rebuild_the_signed_root(served):
    base, signer = served
    with httpx.Client(base_url=base) as client:
        note = client.get("/ledger/checkpoint").text
        checkpoint = notes.open_checkpoint(note, signer.verifier, ORIGIN)
        assert checkpoint.size == SIZE
        entries: list[bytes] = []
        level0: list[bytes] = []
        for n in range(SIZE // 256 + 1):
            width = min(256, SIZE - n * 256)
            suffix = "" if width == 256 else f".p/{width}"
            bundle = client.get(f"/ledger/tile/entries/{tile_path(n)}{suffix}")
            tile = client.get(f"/ledger/tile/0/{tile_path(n)}{suffix}")
            assert bundle.status_code == tile.status_code == 200
            assert len(tile.content) == 32 * width
            if width == 256:
                assert "immutable" in tile.headers["cache-control"]
            entries += unbundle(bundle.content)
            level0 += [tile.content[i : i + 32] for i in range(0, len(tile.content), 32)]
        leaves = [sha256(b"\x00" + e) for e in entries]
        assert leaves == level0
        assert tree_hash(leaves) == checkpoint.root
        # Level 1 holds the roots of the full level-0 tiles.
        level1 = client.get(f"/ledger/tile/1/{tile_path(0)}.p/2").content
        assert level1 == tree_hash(leaves[:256]) + tree_hash(leaves[256:512])
        # A narrower partial tile is a prefix of the stored one.
        prefix = client.get(f"/ledger/tile/0/{tile_path(2)}.p/3").content
        assert prefix == b"".join(level0[512:515])
        # The entries endpoint serves the same canonical bytes.
        lines = client.get("/ledger/entries", params={"start": 250, "end": 260}).content
        assert lines.split(b"\n")[:-1] == entries[250:260]
        assert orjson.loads(entries[0])["type"] == "disclosure"


def test_proof_endpoints_verify_against_the_recomputed_tree(served):
    base, _ = served
    with httpx.Client(base_url=base) as client:
        entries = []
        for start in range(0, SIZE, 300):
            end = min(SIZE, start + 300)
            response = client.get("/ledger/entries", params={"start": start, "end": end})
            entries += response.content.split(b"\n")[:-1]
        assert len(entries) == SIZE
        leaves = [sha256(b"\x00" + e) for e in entries]
        proof = client.get("/ledger/proof/inclusion", params={"index": 300, "size": 500}).json()
        assert base64.b64decode(proof["leaf_hash"]) == leaves[300]
        # Walk the audit path by hand (RFC 9162 §2.1.3.2).
        fn, sn, r = 300, 499, leaves[300]
        for h in map(base64.b64decode, proof["hashes"]):
            if fn & 1 or fn == sn:
                r = sha256(b"\x01" + h + r)
                while not fn & 1 and fn:
                    fn, sn = fn >> 1, sn >> 1
            else:
                r = sha256(b"\x01" + r + h)
            fn, sn = fn >> 1, sn >> 1
        assert r == tree_hash(leaves[:500])
        assert proof["checkpoint"] is not None  # a batch ended at 500
        consistency = client.get("/ledger/proof/consistency", params={"from": 200, "to": 700})
        hashes = consistency.json()["hashes"]
        assert hashes and all(len(base64.b64decode(h)) == 32 for h in hashes)
        from ledger import merkle

        merkle.verify_consistency(
            200,
            700,
            tree_hash(leaves[:200]),
            tree_hash(leaves),
            [base64.b64decode(h) for h in hashes],
        )


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/ledger/proof/inclusion", {"index": SIZE}, 400),
        ("/ledger/proof/inclusion", {"index": 5, "size": SIZE + 1}, 400),
        ("/ledger/proof/inclusion", {"index": "-1"}, 400),
        ("/ledger/proof/inclusion", {}, 400),
        ("/ledger/proof/consistency", {"from": 10, "to": 5}, 400),
        ("/ledger/proof/consistency", {"from": 1, "to": SIZE + 9}, 400),
        ("/ledger/entries", {"start": 10, "end": 5}, 400),
        ("/ledger/entries", {"start": 0, "end": SIZE + 1}, 400),
        ("/ledger/entries", {"start": "abc"}, 400),
        ("/ledger/tile/0/003", {}, 404),  # beyond the tree
        ("/ledger/tile/0/002", {}, 404),  # only partial so far
        ("/ledger/tile/0/002.p/200", {}, 404),  # wider than the tree
        ("/ledger/tile/0/2", {}, 404),  # not canonical
        ("/ledger/tile/0/x000/002", {}, 404),  # not canonical
        ("/ledger/tile/0/000.p/256", {}, 404),
        ("/ledger/tile/0/000.p/0", {}, 404),
        ("/ledger/tile/64/000", {}, 404),
        ("/ledger/tile/entries/003", {}, 404),
    ],
)
def test_bad_requests_are_clear_errors(served, path, params, status):
    base, _ = served
    response = httpx.get(base + path, params=params)
    assert response.status_code == status
    assert response.json()["error"]


def test_tile_index_paths_follow_the_c2sp_form():
    from app.ledger_http import parse_tile_path, tile_index_path

    assert tile_index_path(0) == "000"
    assert tile_index_path(1234067) == "x001/x234/067"
    assert tile_index_path(1000) == "x001/000"
    assert parse_tile_path("3/x001/x234/067.p/8") == ("3", 1234067, 8)
    assert parse_tile_path("entries/x001/000") == ("entries", 1000, None)


def test_cosign_accepts_a_configured_witness_and_refuses_anything_else(tmp_path, ledgered):
    witness = keys.generate("witness.example/health", keys.ALG_COSIGNATURE_V1)
    stranger = keys.generate("witness.example/stranger", keys.ALG_COSIGNATURE_V1)
    gateway = start_gateway(
        ledgered.data_dir,
        _supergraph(),
        witnesses=[Witness(name=witness.name, key=witness.verifier.encode())],
        cosignature_quorum=1,
    )
    try:
        client, url = gateway.client, gateway.server.url
        published = client.get(f"{url}/ledger/key").text.strip()
        assert published == ledgered.signer().verifier.encode()
        note = client.get(f"{url}/ledger/checkpoint").text
        notes.open_checkpoint(note, keys.parse_verifier(published))
        body, _ = notes.split_note(note)
        line = notes.cosign(body, witness, int(time.time())).line()
        refused = client.post(
            f"{url}/ledger/cosign", content=note + notes.cosign(body, stranger, 1).line()
        )
        assert refused.status_code == 400 and "no cosignature" in refused.json()["error"]
        forged = body.replace(body.splitlines()[1], "999999")
        bad = client.post(f"{url}/ledger/cosign", content=forged + "\n" + line)
        assert bad.status_code == 400
        accepted = client.post(f"{url}/ledger/cosign", content=note + line)
        assert accepted.status_code == 200 and accepted.json() == {"accepted": 1}
        cosigned = client.get(f"{url}/ledger/checkpoint").text
        assert cosigned == note + line
        api = client.post(
            f"{url}/accord/graphql",
            json={
                "query": "{ accord { ledger { checkpoint { final quorum "
                "cosignatures { witness } } } } }"
            },
            headers={"authorization": f"Bearer {gateway.idp.auditor_token()}"},
        ).json()["data"]["accord"]["ledger"]["checkpoint"]
        assert api == {"final": True, "quorum": 1, "cosignatures": [{"witness": witness.name}]}
    finally:
        stop(gateway)


def _supergraph() -> str:
    from app.federation.compose import accord_subgraph, compose

    return compose([accord_subgraph()])
