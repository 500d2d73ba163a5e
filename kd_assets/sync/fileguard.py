"""LOAD DATA LOCAL's file request, answered only for the file our own statement named.

In the protocol it is the *server* that names the file a client sends: its reply to ``LOAD DATA
LOCAL INFILE '<name>'`` is a request carrying a file name, and PyMySQL, on a connection opened
with ``local_infile=True``, opens and sends whatever file that request names
(``MySQLResult._read_load_local_packet`` → ``_send_local_file``; ``LoadLocalFile`` before 2.0),
in reply to *any* statement. A malicious or compromised server could ask for ``.env`` or a key.

``GuardedConnection`` looks at the first packet of every reply, where such a request can come
(an OK, error or column-count packet otherwise): a request is answered only while
``expect_file`` names exactly the requested file, i.e. while one of our own loads of that
temporary file runs. Any other request is refused before PyMySQL sees it: the server gets an
empty file (so the connection stays usable), the statement raises ``FileRequestRefused``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import pymysql
from pymysql.connections import Connection
from pymysql.protocol import LoadLocalPacketWrapper, MysqlPacket


class FileRequestRefused(RuntimeError):
    """The server asked for a local file other than the one our running load named."""


class GuardedConnection(Connection):
    """A PyMySQL connection that offers LOAD DATA LOCAL but sends only the expected file."""

    _kd_expected: bytes | None = None
    _kd_reply_starts = False

    def __init__(self, *args, **kwargs):
        kwargs["local_infile"] = True  # advertise the capability (CLIENT.LOCAL_FILES) ...
        super().__init__(*args, **kwargs)
        self._local_infile = False     # ... but PyMySQL itself refuses until expect_file

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
        return packet

    def _refuse(self, requested: bytes) -> None:
        self.write_packet(b"")  # an empty file: the server ends the statement, the protocol stays in step
        try:
            super()._read_packet()
        except pymysql.err.MySQLError:
            pass  # the server's own error for the empty load; ours says more
        raise FileRequestRefused(f"the server asked for local file {requested[:200]!r}, which no "
                                 f"running load of ours named; refused")


def file_request_allowed(conn, requested: bytes) -> bool:
    """Whether a server's request for ``requested`` is for the file our running load named."""
    expected = getattr(conn, "_kd_expected", None)
    return expected is not None and requested == expected


@contextmanager
def expect_file(conn: GuardedConnection, path: str) -> Iterator[None]:
    """Allow the server to ask for exactly ``path`` (and nothing else) inside the block."""
    conn._kd_expected, conn._local_infile = os.fsencode(path), True
    try:
        yield
    finally:
        conn._kd_expected, conn._local_infile = None, False
