"""The raters' web page, served by the standard library (:mod:`http.server`), offline.

Routes (everything else is 404):

- ``GET /`` the page; ``GET /static/study.js``, ``/static/study.css`` its script and style (package
  data: no CDN, nothing fetched from elsewhere);
- ``GET /api/state?rater=ID`` the rater's progress and next trial (the rater's block is assigned on the
  first visit);
- ``POST /api/choice`` with a JSON body ``{"rater", "trial", "choice", "seconds"}``: the choice is
  committed to the database before the answer (the next state) is sent;
- ``GET /image/TRIAL/SIDE`` with ``SIDE`` one of ``input``, ``ref``, ``left``, ``right``: the picture of a
  trial of the design, looked up in ``study.json`` and opened through
  :func:`~pikfix_bench.safe_paths.path_inside`; no path comes from the request. Raters see trials and
  sides, never run labels or image file names.

Every request value is checked (rater ids by :func:`~pikfix_bench.study.storage.rater_problem`, trial
ids against the design, choices against their list, bodies up to 4 KiB of JSON with that content
type, which a cross-site form cannot send). Replies carry a content security policy that allows
only this server's own script, style and images.
"""

from __future__ import annotations

import html
import json
import math
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pikfix_bench.errors import PikfixError
from pikfix_bench.study.design import Study
from pikfix_bench.study.storage import ChoiceStore, rater_problem

MAX_BODY = 4096
STATIC = {"study.js": "text/javascript; charset=utf-8", "study.css": "text/css; charset=utf-8"}
SIDES = ("input", "ref", "left", "right")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _static(name: str) -> bytes:
    """A file of the page shipped inside the package."""
    return resources.files("pikfix_bench.study").joinpath("static").joinpath(name).read_bytes()


def render_page(study: Study) -> bytes:
    """The page, with the study's values escaped into it."""
    template = _static("index.html").decode("utf-8")
    values = {
        "title": f"{study.record['dataset']['name']} · study {study.study_id[:12]}",
        "allow_tie": "true" if study.record["allow_tie"] else "false",
    }
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", html.escape(value, quote=True))
    return template.encode("utf-8")


class StudyHandler(BaseHTTPRequestHandler):
    """One request to the study server (the study and its store are attributes of the server)."""

    server: StudyServer
    server_version = "pikfix-bench-study"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
        """Stay quiet: choices are in the database, and request lines would only fill the terminal."""

    def _send(self, status: int, body: bytes, content_type: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "private, max-age=3600" if cache else "no-store")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: dict[str, Any], status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        """Serve the page, its static files, a rater's state or a trial's picture."""
        url = urlsplit(self.path)
        parts = url.path.split("/")[1:]
        try:
            if url.path == "/":
                self._send(HTTPStatus.OK, render_page(self.server.study), "text/html; charset=utf-8")
            elif len(parts) == 2 and parts[0] == "static" and parts[1] in STATIC:
                self._send(HTTPStatus.OK, _static(parts[1]), STATIC[parts[1]], cache=True)
            elif url.path == "/api/state":
                query = parse_qs(url.query, max_num_fields=4)
                self._json(self.server.state(query.get("rater", [""])[0]))
            elif len(parts) == 3 and parts[0] == "image":
                self._send(HTTPStatus.OK, self.server.picture(parts[1], parts[2]), "image/png", cache=True)
            else:
                self._error(HTTPStatus.NOT_FOUND, "no such page")
        except (PikfixError, ValueError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except OSError:  # a picture removed from the study folder
            self._error(HTTPStatus.NOT_FOUND, "picture missing from the study folder")

    def do_HEAD(self) -> None:  # noqa: N802 - the standard library's name
        """As GET, without the body."""
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        """Record a choice and answer with the rater's next state."""
        if urlsplit(self.path).path != "/api/choice":
            self._error(HTTPStatus.NOT_FOUND, "no such page")
            return
        if self.headers.get_content_type() != "application/json":
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the choice as application/json")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return
        if not 0 < length <= MAX_BODY:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a choice is at most {MAX_BODY} bytes")
            return
        try:
            body = json.loads(self.rfile.read(length).decode("utf-8"))
            self._json(self.server.choose(body))
        except (PikfixError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            self._error(HTTPStatus.BAD_REQUEST, str(exc))


class StudyServer(ThreadingHTTPServer):
    """An HTTP server for one study and its database.

    Parameters
    ----------
    address : tuple
        ``(host, port)``; port 0 picks a free one.
    study : Study
        The study.
    store : ChoiceStore
        Its database.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], study: Study, store: ChoiceStore) -> None:
        self.study, self.store = study, store
        self.trials = study.trials
        super().__init__(address, StudyHandler)

    def state(self, rater: str) -> dict[str, Any]:
        """A rater's progress and next trial (sides by URL only)."""
        problem = rater_problem(rater)
        if problem:
            raise PikfixError(problem)
        block, trial, done = self.store.progress(rater)
        state: dict[str, Any] = {"rater": rater, "done": done, "total": len(block), "trial": None}
        if trial is not None:
            state["trial"] = {
                "id": trial.id,
                "position": done + 1,
                **{side: f"/image/{trial.id}/{side}" for side in ("input", "left", "right")},
                "ref": f"/image/{trial.id}/ref" if self.study.record["show_reference"] else None,
            }
        return state

    def choose(self, body: object) -> dict[str, Any]:
        """Check and record a choice sent by the page; the rater's next state."""
        if not isinstance(body, dict) or set(body) - {"rater", "trial", "choice", "seconds"}:
            raise PikfixError("a choice is a JSON object with rater, trial, choice and seconds")
        rater, trial, choice, seconds = (body.get(key) for key in ("rater", "trial", "choice", "seconds"))
        problem = rater_problem(rater)
        if problem:
            raise PikfixError(problem)
        if not isinstance(trial, str) or trial not in self.trials:
            raise PikfixError("unknown trial")
        if not isinstance(choice, str):
            raise PikfixError("choice must be text")
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0 <= seconds <= 86400
        ):
            raise PikfixError("seconds must be a number from 0 to 86400")
        self.store.record(rater, trial, choice, None if seconds is None else float(seconds))
        return self.state(rater)

    def picture(self, trial_id: str, side: str) -> bytes:
        """The PNG bytes of one side of a trial of the design."""
        trial = self.trials.get(trial_id)
        if trial is None or side not in SIDES:
            raise PikfixError("unknown trial or side")
        if side == "ref" and not self.study.record["show_reference"]:
            raise PikfixError("this study shows no reference")
        kind = {"left": trial.left, "right": trial.right}.get(side, side)
        return self.study.image(kind, trial.sample).read_bytes()


def make_server(study: Study, store: ChoiceStore, host: str = "127.0.0.1", port: int = 0) -> StudyServer:
    """A server for ``study`` listening on ``host:port`` (port 0: a free one); call ``serve_forever``."""
    return StudyServer((host, port), study, store)
