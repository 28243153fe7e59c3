"""Child process for the crash test: append from many tasks forever, printing each receipt.

Usage: python -m tests.ledger.crash_child URL KEY_FILE
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ledger import keys
from ledger.log import open_ledger
from tests.ledger.conftest import ORIGIN
from tests.ledger.samples import disclosure

TASKS = 256


async def main(url: str, key_file: Path) -> None:
    signer = keys.load_signer(key_file)
    async with open_ledger(url, signer, ORIGIN) as ledger:
        print("ready", flush=True)

        async def appender(task: int) -> None:
            number = 0
            while True:
                receipt = await ledger.append(disclosure(task * 1_000_000 + number))
                sys.stdout.write(f"{receipt.index} {receipt.leaf_hash.hex()}\n")
                sys.stdout.flush()
                number += 1

        await asyncio.gather(*(appender(task) for task in range(TASKS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
