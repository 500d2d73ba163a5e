"""LOAD DATA LOCAL's file request, answered from memory and only for the name our own load gave.

In the protocol it is the *server* that names the file a client sends: its reply to ``LOAD DATA
LOCAL INFILE '<name>'`` is a request carrying a file name, and PyMySQL, on a connection opened
with ``local_infile=True``, opens and sends whatever file that request names
(``MySQLResult._read_load_local_packet`` → ``_send_local_file``; ``LoadLocalFile`` before 2.0),
in reply to *any* statement. A malicious or compromised server could ask for ``.env`` or a key.

``GuardedConnection`` looks at the first packet of every reply, where such a request can come
(an OK, error or column-count packet otherwise). While ``serve`` runs, a request for exactly
the name it was given is answered with its bytes, sent from memory, and the server's reply is
handed to PyMySQL as the statement's result: PyMySQL's own file reading is never reached, no
file is opened, and no batch of rows is written to disk. Any other request is refused: the
server gets an empty file (so the connection stays usable) and the statement raises
``FileRequestRefused``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pymysql
from pymysql.connections import Connection
from pymysql.protocol import LoadLocalPacketWrapper, MysqlPacket

_PACKET = 64 * 1024  # data per packet, far below any max_allowed_packet


class FileRequestRefused(RuntimeError):
    """The server asked for a local file other than the one our running load named."""


class GuardedConnection(Connection):
    """A PyMySQL connection that offers LOAD DATA LOCAL but sends only what ``serve`` hands it."""

    _kd_name: bytes | None = None
    _kd_data = b""
    _kd_reply_starts = False

    def __init__(self, *args, **kwargs):
        kwargs["local_infile"] = True  # advertise the capability (CLIENT.LOCAL_FILES) ...
        super().__init__(*args, **kwargs)
        self._local_infile = False     # ... while PyMySQL's own answer (reading a file) stays refused

    def _read_query_result(self, unbuffered=False):
        self._kd_reply_starts = True
        try:
            return super()._read_query_result(unbuffered)
        finally:
            self._kd_reply_starts = False

    def _read_packet(self, packet_type=MysqlPacket):
        packet = super()._read_packet(packet_type)
        if self._kd_reply_starts:
            self._kd_reply_starts = False  # later packets are rows, where 0xFB means NULL
            if packet.is_load_local_packet():
                requested = LoadLocalPacketWrapper(packet).filename
                if not file_request_allowed(self, requested):
                    self._refuse(requested)
                # The server's reply to the data (OK, or an error raised here), read by PyMySQL as
                # the statement's result, exactly as after its own answer.
                packet = self._send(self._kd_data)
        return packet

    def _send(self, data: bytes):
        for start in range(0, len(data), _PACKET):
            self.write_packet(data[start:start + _PACKET])
        self.write_packet(b"")  # end of file
        return super()._read_packet()

    def _refuse(self, requested: bytes) -> None:
        try:
            self._send(b"")  # an empty file: the server ends the statement, the protocol stays in step
        except pymysql.err.MySQLError:
            pass  # the server's own error for the empty load; ours says more
        raise FileRequestRefused(f"the server asked for local file {requested[:200]!r}, which no "
                                 f"running load of ours named; refused")


def file_request_allowed(conn, requested: bytes) -> bool:
    """Whether a server's request for ``requested`` is for the name our running load gave."""
    name = getattr(conn, "_kd_name", None)
    return name is not None and requested == name


@contextmanager
def serve(conn: GuardedConnection, name: str, data: bytes) -> Iterator[None]:
    """Inside the block, answer a request for exactly ``name`` (and nothing else) with ``data``."""
    conn._kd_name, conn._kd_data = name.encode("utf-8"), data
    try:
        yield
    finally:
        conn._kd_name, conn._kd_data = None, b""
