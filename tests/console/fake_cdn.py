"""A stand-in for GraphiQL's CDN on 127.0.0.1: HTTPS with a throwaway self-signed certificate,
serving small scripts in place of React, ReactDOM and GraphiQL. Chromium is pointed at it with
``--host-resolver-rules`` and ``--ignore-certificate-errors``, so the page's own loader and
Content-Security-Policy are exercised exactly as with the real CDN, without the internet."""

from __future__ import annotations

import datetime
import http.server
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REACT = "window.React = { createElement: function (type, props) { return [type, props]; } };"
# A GraphiQL that draws its container, as the real one does once it has started.
WORKING = """
window.ReactDOM = { createRoot: function (el) { return {
  render: function () { el.innerHTML = '<div class="graphiql-container">stand-in GraphiQL</div>'; },
  unmount: function () { el.textContent = ''; } }; } };
window.GraphiQL = function () {};
window.GraphiQL.createFetcher = function (options) { return options; };
"""
# One that needs eval to start, which the page's policy refuses.
NEEDS_EVAL = """
window.ReactDOM = { createRoot: function (el) { return {
  render: function () { setTimeout(function () {
    new Function("return 1")();
    el.innerHTML = '<div class="graphiql-container">should not appear</div>';
  }, 0); },
  unmount: function () { el.textContent = ''; } }; } };
window.GraphiQL = function () {};
window.GraphiQL.createFetcher = function (options) { return options; };
"""


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unpkg.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("unpkg.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cdn.pem", directory / "cdn.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class FakeCDN:
    """Serves ``graphiql`` (one of the scripts above) for GraphiQL's bundle; stop() ends it."""

    def __init__(self, graphiql: str) -> None:
        scripts = {
            "/react@18/umd/react.production.min.js": REACT,
            "/react-dom@18/umd/react-dom.production.min.js": "",
            "/graphiql@3/graphiql.min.js": graphiql,
        }
        self.requested: list[str] = []
        requested = self.requested

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requested.append(self.path)
                if self.path.endswith(".css"):
                    body, kind = b"", "text/css"
                elif self.path in scripts:
                    body, kind = scripts[self.path].encode(), "text/javascript"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._dir = tempfile.TemporaryDirectory()
        cert_file, key_file = _certificate(Path(self._dir.name))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
        self._dir.cleanup()
