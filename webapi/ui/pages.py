"""The dashboard's blueprint: login and logout, the page guard, errors as pages.

Every error a page meets is rendered as a page (or, for an htmx request, swapped
into the page) with the API's own message; a 401 sends the browser to the login
page, a 403 says which role is needed. Stack traces go to the log only.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from shared.errors import InvalidInput, ShoalError, Unauthorized
from webapi.errors import is_database_unavailable
from webapi.services import services
from webapi.ui import login_token
from webapi.ui.figures import amount, hours, money
from webapi.ui.files import human_size
from webapi.ui.session import (
    SessionExpired,
    close_session,
    configure_cookies,
    current_session,
    open_session,
    optional_session,
)

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

blp = Blueprint(
    "ui",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/ui/static",
)
blp.record_once(
    lambda state: configure_cookies(cast(Flask, state.app), state.app.extensions["shoal"])
)

LOGIN_COOKIE = "shoal_login"
BAD_NEXT = "The address to go to after logging in (next) holds control characters."
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
ROLE_NAMES = {"ANALYST": "ANALYST (researcher)", "ADMIN": "ADMIN"}


def page(*roles: str) -> Callable[[F], F]:
    """A page for a logged-in viewer holding one of ``roles`` (ADMIN always passes)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = current_session().principal
            if roles and not principal.has_any(roles):
                names = " or ".join(ROLE_NAMES.get(role, role) for role in roles)
                return render_page(
                    "error.html", 403, message=f"This page needs the {names} role.", code=403
                )
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorator


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(f"ui/{template}", **context), status=status)
    response.mimetype = "text/html"
    return response


@blp.context_processor
def _viewer() -> dict[str, Any]:
    browser = optional_session()
    return {
        "viewer": browser.principal if browser else None,
        "csrf_token": browser.csrf if browser else "",
        "human_size": human_size,
        "money": money,
        "amount": amount,
        "hours": hours,
    }


@blp.route("/login", methods=["GET"])
def login_form() -> ResponseReturnValue:
    if optional_session() is not None:
        return redirect(_safe_next(request.args.get("next")))
    notice = "Your session has expired; please log in again." if "expired" in request.args else ""
    return _login_page(notice=notice, next=request.args.get("next", ""))


def _login_page(status: int = 200, **context: Any) -> Response:
    """The login form with a fresh login token (in the form and in a strict cookie)."""
    token = login_token.issue(_login_key(), time.time())
    response = render_page("login.html", status, login_token=token, **context)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=services().settings.ui.secure_cookies,
        path="/login",
    )
    return response


def _login_key() -> bytes:
    return login_token.signing_key(services().settings.jwt_private_key)


@blp.route("/login", methods=["POST"])
def login_submit() -> ResponseReturnValue:
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    target = _safe_next(request.form.get("next"))
    if not _fresh_login_form():
        # A login form posted from another site (login CSRF), or one left open too long.
        message = "The login form was out of date; please try again."
        return _login_page(403, error=message, email=email, next=target)
    response = redirect(target, code=303)
    try:
        open_session(
            response, email=email, password=password, address=request.remote_addr or "unknown"
        )
    except ShoalError as error:
        return _login_page(error.status, error=error.message, email=email, next=target)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def _fresh_login_form() -> bool:
    """The form came from this site, to this browser, and its token is used for the first time."""
    sent, expected = request.form.get("login_token", ""), request.cookies.get(LOGIN_COOKIE, "")
    same = hmac.compare_digest(sent.encode(), expected.encode())
    if not expected or not same or login_token.cross_site(request):
        return False
    with services().transaction() as conn:
        return login_token.spend(conn, _login_key(), sent, time.time())


@blp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    current_session()  # a logout needs the page's CSRF token like any other change
    response = redirect(url_for("ui.login_form"), code=303)
    close_session(response)
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute URL (no open redirect).

    A control character cannot come from a browser (it sends them encoded) and cannot
    go into a Location header: such a ``next`` is refused (400), not followed.
    """
    if target and _CONTROL.search(target):
        raise InvalidInput(BAD_NEXT, errors={"next": [BAD_NEXT]})
    if not target or not target.startswith("/") or target.startswith("//"):
        return url_for("ui.my_jobs")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return url_for("ui.my_jobs")
    return target


def _to_login(expired: bool) -> Response:
    args: dict[str, Any] = (
        {"next": request.full_path.rstrip("?")} if request.method == "GET" else {}
    )
    if expired:
        args["expired"] = "1"
    target = url_for("ui.login_form", **args)
    if request.headers.get("HX-Request"):
        response = Response(status=204)
        response.headers["HX-Redirect"] = target
        return response
    return cast(Response, redirect(target, code=303))


@blp.errorhandler(ShoalError)
def _shoal_error(error: ShoalError) -> Response:
    if isinstance(error, Unauthorized):
        return _to_login(isinstance(error, SessionExpired))
    if error.status >= 500 and not is_database_unavailable(error):
        return _unexpected(error)
    return render_page("error.html", error.status, message=error.message, code=error.status)


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return _unexpected(error)
    return render_page("error.html", status, message=error.description, code=status)


@blp.errorhandler(Exception)
def _unexpected(error: BaseException) -> Response:
    if is_database_unavailable(error):
        message = "The database is unreachable right now; nothing was changed. Try again soon."
        return render_page("error.html", 503, message=message, code=503)
    log.error(
        "unhandled error on page %s %s",
        request.method,
        request.path,
        exc_info=(type(error), error, error.__traceback__),
        extra={"action": "ui.internal_error", "path": request.path},
    )
    message = "Something went wrong on our side; the error was logged."
    return render_page("error.html", 500, message=message, code=500)
