"""JSON over HTTP for discovery sources, bounded in time and size.

``requests``' timeout applies to each socket read, so a server that trickles a byte
a second never times out; discovery must finish, so the body is streamed against a
deadline for the whole request and a size cap. Every failure becomes an
``InputError`` (the answer is unusable) or ``SourceUnreachable`` (no full answer).
"""

from __future__ import annotations

import time
from typing import Any

import requests

from aiops.errors import InputError
from aiops.jsontext import parse_json
from topology.discovery.base import SourceUnreachable

MAX_BODY = 256 * 1024 * 1024  # bytes; a topology page larger than this is not a page


class HttpRefused(InputError):
    """The source answered with an HTTP 4xx; ``status`` says which, for a caller that
    can tell the user more (a token that may not read one list)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class JsonHttp:
    """GETs JSON documents from one API with fixed headers, timeout and TLS settings."""

    def __init__(self, source: str, headers: dict[str, str] | None = None,
                 timeout: float = 30.0, verify: bool | str = True,
                 session: requests.Session | None = None):
        self.source = source
        self.headers = {"Accept": "application/json", **(headers or {})}
        self.timeout = timeout
        self.verify = verify
        self.session = session or requests.Session()

    def get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """The decoded JSON body of ``GET url``; raises naming the URL on any failure."""
        deadline = time.monotonic() + self.timeout
        try:
            with self.session.get(url, params=params, headers=self.headers,
                                  timeout=self.timeout, verify=self.verify,
                                  stream=True) as response:
                body = self._read(response, url, deadline)
                status = response.status_code
        except requests.Timeout:
            raise SourceUnreachable(
                f"{self.source}: {url} did not answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise SourceUnreachable(f"{self.source}: reading {url} failed: {exc}") from None
        if status >= 500:
            raise SourceUnreachable(f"{self.source}: {url} answered HTTP {status}")
        if status >= 400:
            hint = " (check the token)" if status in (401, 403) else ""
            raise HttpRefused(f"{self.source}: {url} answered HTTP {status}{hint}", status)
        try:
            text = body.decode("utf-8-sig")  # what json.loads(bytes) accepted, minus UTF-16/32
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.source}: {url} returned invalid JSON: {exc}") from None
        try:
            return parse_json(text)  # see read_json_file
        except InputError as exc:
            detail = exc.detail.removeprefix("malformed JSON: ")
            raise InputError(f"{self.source}: {url} returned invalid JSON: {detail}",
                             field=exc.field) from None

    def _read(self, response: requests.Response, url: str, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > MAX_BODY:
                raise InputError(f"{self.source}: {url} answered more than "
                                 f"{MAX_BODY // (1024 * 1024)} MiB")
            if time.monotonic() > deadline:
                raise requests.Timeout()
            chunks.append(chunk)
        return b"".join(chunks)


def read_json_file(path: str, source: str) -> Any:
    """A JSON file saved from a source (``kubectl get -o json``, ``lldpcli -f json``)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=path) from None
    if not raw.strip():
        raise InputError(f"file is empty; expected {source} JSON output", where=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("not valid UTF-8", where=f"{path}:{line}") from None
    try:
        # parse_json, not json.loads: a document nested too deeply or a 5,000-digit
        # number was a traceback, and a lone UTF-16 surrogate escape (valid JSON, not
        # text) got as far as the store, which failed with a traceback encoding it.
        return parse_json(text)
    except InputError as exc:
        raise exc.located(path) from None
