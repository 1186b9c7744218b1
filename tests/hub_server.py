"""A loopback server that speaks the part of the Hugging Face Hub's HTTP API that ``hf_hub_download`` uses.

It serves checkpoint folders as Hub model repositories, so that ``HF_ENDPOINT=http://127.0.0.1:PORT`` runs
huggingface_hub's real download code with nothing mocked: ``HEAD`` and ``GET`` on
``/{owner}/{name}/resolve/{revision}/{filename}`` with the headers the Hub sends (``X-Repo-Commit``, ``ETag``,
``Content-Length``, ``Accept-Ranges``, byte ranges) and its 404s (``X-Error-Code`` RepoNotFound,
RevisionNotFound, EntryNotFound). It counts the bytes it sends per file, and injects faults per file:

- ``"404"``: the file is missing;
- ``"corrupt"``: the right length, one byte changed in the middle;
- ``"truncate"``: every response stops halfway through the bytes it promised and closes the connection;
- ``"truncate-once"``: the first response does, later ones are whole (a dropped connection).

It listens on 127.0.0.1 only, on a free port, and stops when its ``with`` block ends.
"""
from __future__ import annotations

import hashlib
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class HubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, repos: dict[str, tuple[Path, set[str]]]):
        """``repos``: Hub repository id -> (folder, the revisions it answers to besides ``main``)."""
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos = repos
        self.faults: dict[tuple[str, str], str] = {}  # (repo id, file name) -> fault
        self.sent: Counter = Counter()  # (repo id, file name) -> body bytes sent
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self._served_once: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.sent.clear()
            self.requests.clear()
            self._served_once.clear()

    def __enter__(self) -> "HubServer":
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)


def commit_of(repo_id: str, revision: str) -> str:
    """A stable 40-hex commit id per repository and revision (what the Hub's ``X-Repo-Commit`` carries)."""
    return hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    server: HubServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a silent client may hold a connection

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _error(self, status: int, code: str, message: str) -> None:
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _answer(self, body: bool) -> None:
        server = self.server
        with server._lock:
            server.requests.append((self.command, self.path))
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(404, "RepoNotFound", f"no route {self.path}")
        repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        if repo_id not in server.repos:
            return self._error(404, "RepoNotFound", f"Repository Not Found for url: {self.path}")
        folder, revisions = server.repos[repo_id]
        if revision != "main" and revision not in revisions:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        path = folder / filename
        fault = server.faults.get((repo_id, filename))
        if fault == "404" or not path.is_file():
            return self._error(404, "EntryNotFound", f"{filename} does not exist on {revision}")
        data = path.read_bytes()
        etag = hashlib.sha256(data).hexdigest()  # as the Hub's X-Linked-Etag of an LFS file
        if fault == "corrupt":
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
        start = 0
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes=") and range_header.endswith("-"):
            start = min(int(range_header[6:-1]), len(data))
        chunk = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", commit_of(repo_id, revision))
        self.send_header("ETag", f'"{etag}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(chunk)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not body:
            return
        key = (repo_id, filename)
        with server._lock:
            truncate = fault == "truncate" or (fault == "truncate-once" and key not in server._served_once)
            server._served_once.add(key)
        if truncate:
            chunk = chunk[:len(chunk) // 2]
        self.wfile.write(chunk)
        self.wfile.flush()
        with server._lock:
            server.sent[key] += len(chunk)
        if truncate:
            self.close_connection = True


def serve_weights(folders: list[Path], revisions: dict[str, str], org: str = "equivariant-zoo") -> HubServer:
    """A server for checkpoint folders, each as the repository ``org/<folder name>``, answering to ``main`` and
    to ``revisions[<folder name>]`` (the records' pinned tags)."""
    return HubServer({f"{org}/{f.name}": (f, {revisions[f.name]} if f.name in revisions else set())
                      for f in folders})
