"""An asyncio transport that keeps what a protocol does to it, for the HTTP client and front
tests that feed a connection by hand."""

from __future__ import annotations


class FakeTransport:
    def __init__(self) -> None:
        #: what ``get_extra_info`` answers, as a TCP transport would
        self.extra = {"peername": ("10.0.0.7", 40123), "sockname": ("10.0.0.1", 8080)}
        self.written: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.reading = True

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.extra.get(name, default)
