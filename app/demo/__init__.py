"""The one-command demo network: four partner agencies, a gateway and a consent ledger.

``accord demo`` (``app.commands.demo``) uses four small parts: :mod:`app.demo.network`
writes the ledger's founding entries (members, the starter contracts, consents),
:mod:`app.demo.samples` holds the sample people, queries and tokens it prints,
:mod:`app.demo.witness` sets up the health department's ledger peer that cosigns checkpoints,
and :mod:`app.demo.processes` starts, watches and stops the servers and the peer.
"""


def shown_url(url: str) -> str:
    """A database URL fit to print: any password masked."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by whoever opens it
        return "the configured ledger_url"
