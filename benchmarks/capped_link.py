"""A loopback TCP proxy that caps each connection's download rate: a network link in front of any server.

``bench_loaders.py`` puts it in front of the S3 server that litdata reads (moto, see
``bench_loaders_peers.py --serve-s3``), with the same cap per connection as ``loaders.tiny.serve_http``
and ``tests/hub_server.py`` apply to each response for this loader, webdataset and MosaicML.
"""

from __future__ import annotations

import socket
import threading
import time

PIECE = 64 << 10


class CappedLink:
    """``with CappedLink(port, bytes_per_s) as link:`` connect to ``link.port`` instead of ``port``;
    what the server sends is passed on at ``bytes_per_s`` at most per connection, requests unchanged."""

    def __init__(self, upstream_port: int, bytes_per_s: float):
        self.upstream, self.rate = ("127.0.0.1", upstream_port), bytes_per_s
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closed = False

    def __enter__(self) -> "CappedLink":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.closed = True
        self.sock.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.rate), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, rate) -> None:
        due = time.perf_counter()  # when the bytes sent so far may have left at the cap; idle time earns no credit
        try:
            while data := src.recv(PIECE):
                dst.sendall(data)
                if rate:
                    due = max(due, time.perf_counter()) + len(data) / rate
                    if (ahead := due - time.perf_counter()) > 0:
                        time.sleep(ahead)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
