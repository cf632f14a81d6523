"""CurveZMQ for tcp links: one deployment key pair, shared by the hosts of a graph.

Every host holds the same secret key file (made by ``streamser keys``). Listening sockets
act as CURVE servers with it, connecting sockets as clients with it, and a ZAP handler
admits only clients that prove they hold that key, so links are encrypted and
authenticated. Without a key file, tcp links are plain (bind 127.0.0.1 unless told).
"""
from __future__ import annotations

from pathlib import Path

import zmq


class CurveError(RuntimeError):
    pass


def secret_line(path: str | Path, what: str) -> str:
    """The first line of a file that holds a secret (a password, a token), stripped;
    ValueError with one line saying why when it cannot be read or is empty."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read {what} file {path}: {exc.strerror}") from None
    if not lines or not lines[0].strip():
        raise ValueError(f"{what} file {path} is empty")
    return lines[0].strip()


def make_keys(directory: str | Path, name: str = "streamser", force: bool = False
              ) -> tuple[Path, Path]:
    """Write ``NAME.key`` (public) and ``NAME.key_secret`` (secret, mode 600). An existing
    pair is kept (FileExistsError) unless ``force``: every host holding it would be locked
    out."""
    directory = Path(directory)
    existing = [p for p in (directory / f"{name}.key", directory / f"{name}.key_secret")
                if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} exists: every host that holds this key pair "
                              "would be locked out by a new one (--force replaces it)")
    directory.mkdir(parents=True, exist_ok=True)
    from zmq.auth import create_certificates  # loads asyncio: only where CURVE is used
    public, secret = create_certificates(str(directory), name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


class Curve:
    """Applies the deployment key pair to tcp sockets of one ZeroMQ context."""

    def __init__(self, ctx: zmq.Context, secret_file: str | Path) -> None:
        if not zmq.has("curve"):
            raise CurveError("this libzmq was built without CURVE support")
        from zmq.auth import load_certificate  # loads asyncio: only where CURVE is used
        try:
            public, secret = load_certificate(str(secret_file))
        except (OSError, ValueError) as exc:
            raise CurveError(f"cannot read CURVE key {secret_file}: {exc}") from None
        if secret is None:
            raise CurveError(f"{secret_file} holds no secret key (use the .key_secret file)")
        self.public, self.secret = public, secret
        from zmq.auth.thread import ThreadAuthenticator
        self.auth = ThreadAuthenticator(ctx)
        self.auth.start()
        self.auth.configure_curve_callback("*", credentials_provider=self)

    def callback(self, domain: str, client_key: bytes) -> bool:
        """ZAP credentials check (``client_key`` is Z85): admit only the deployment key."""
        return client_key == self.public

    def server(self, sock: zmq.Socket) -> None:
        sock.curve_secretkey, sock.curve_publickey = self.secret, self.public
        sock.curve_server = True

    def client(self, sock: zmq.Socket) -> None:
        sock.curve_secretkey, sock.curve_publickey = self.secret, self.public
        sock.curve_serverkey = self.public

    def close(self) -> None:
        self.auth.stop()
