"""Rendering pages: the templates, the signed-in context every page gets, form checks."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from shoal import __version__
from shoal.control import User
from shoal.runtime import Runtime
from shoal.web.api.deps import get_runtime
from shoal.web.ui.sessions import Session, csrf_ok, session_of, store_of, user_of
from shoal.web.ui.times import utc
from shoal.wording import counted

ENV_COOKIE = "shoal_env"
ENVIRONMENTS = ("dev", "prod")
_TEMPLATES_DIR = str(files("shoal.web") / "templates")

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(_TEMPLATES_DIR),
        autoescape=select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)
templates.env.globals["version"] = __version__

templates.env.filters["utc"] = utc
templates.env.filters["counted"] = counted


def setting_value(value: object) -> str:
    """A configuration value as a person reads it: yes/no, JSON for objects and lists."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False) if value else "none"
    return str(value)


templates.env.filters["setting"] = setting_value


class SignInRequired(Exception):
    """The page needs a signed-in user; the app answers with a redirect to sign-in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class FormRejected(Exception):
    """A form post without a valid CSRF token (an expired page or another site)."""


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this server, else ``default`` (no open redirects)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


def sign_in_url(request: Request) -> str:
    """Where to send a signed-out browser, remembering the page it wanted."""
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/signin?next=" + quote(wanted, safe="/")


def redirect(url: str) -> RedirectResponse:
    """A 303 redirect (after a form post the browser follows it with a GET)."""
    return RedirectResponse(url, status_code=303)


@dataclass(slots=True)
class Ui:
    """What a page handler needs: the request, the runtime, the user and their session."""

    request: Request
    runtime: Runtime
    user: User
    session: Session
    workspace_name: str

    @property
    def env(self) -> str:
        """The environment the app shows: ``?env=`` first, then the cookie, else dev."""
        asked = self.request.query_params.get("env")
        if asked in ENVIRONMENTS:
            return asked
        kept = self.request.cookies.get(ENV_COOKIE)
        return kept if kept in ENVIRONMENTS else "dev"

    @property
    def htmx(self) -> bool:
        """Whether htmx sent the request (it swaps a fragment in place of a whole page)."""
        return self.request.headers.get("hx-request") == "true"

    @property
    def is_owner(self) -> bool:
        """Whether the user may change the guided setup and members."""
        return self.user.role == "owner"

    @property
    def base_url(self) -> str:
        """This server's address as SDKs should reach it."""
        return (self.runtime.settings.public_url or str(self.request.base_url)).rstrip("/")

    def flash(self, message: str) -> None:
        """Show ``message`` on the next page."""
        self.session.flash(message)

    def page(self, name: str, status: int = 200, **context: Any) -> Response:
        """Render a full page (or an htmx fragment) with the shell's context."""
        env = self.env
        # Fragments (``_name.html``, swapped in by htmx) leave pending notices for the page.
        fragment = name.rsplit("/", 1)[-1].startswith("_")
        response = templates.TemplateResponse(
            self.request,
            name,
            {
                "user": self.user,
                "workspace_name": self.workspace_name,
                "env": env,
                "csrf": self.session.csrf,
                "notices": [] if fragment else self.session.take_notices(),
                "path": self.request.url.path,
                "is_owner": self.is_owner,
                "status_code": status,
                **context,
            },
            status_code=status,
        )
        if self.request.cookies.get(ENV_COOKIE) != env:
            response.set_cookie(ENV_COOKIE, env, max_age=365 * 24 * 3600, samesite="lax")
        return response

    def error(self, status: int, title: str, message: str) -> Response:
        """An error page inside the shell, with a way back."""
        return self.page("error.html", status, title=title, message=message)

    async def form(self) -> FormData:
        """The posted form, after checking its CSRF token (raises ``FormRejected``)."""
        form = await self.request.form()
        token = form.get("csrf_token")
        if not csrf_ok(self.request, self.session, token if isinstance(token, str) else None):
            raise FormRejected()
        return form


async def current_ui(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> Ui:
    """The signed-in context of a page, or ``SignInRequired``."""
    session = await asyncio.to_thread(session_of, request)
    if session is None:
        raise SignInRequired(sign_in_url(request))
    user = await asyncio.to_thread(user_of, runtime.control, session)
    if user is None:
        store = store_of(request)
        if store is not None:
            await asyncio.to_thread(store.end, session.id)
        raise SignInRequired(sign_in_url(request))
    workspace = await asyncio.to_thread(runtime.control.workspace, user.workspace_id)
    return Ui(request, runtime, user, session, workspace.name)


UiDep = Annotated[Ui, Depends(current_ui)]


def bare_page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page outside the signed-in shell (sign-in, errors before sign-in)."""
    response: HTMLResponse = templates.TemplateResponse(
        request,
        name,
        {
            "user": None,
            "env": "dev",
            "notices": [],
            "path": request.url.path,
            "status_code": status,
            **context,
        },
        status_code=status,
    )
    return response


def missing(ui: Ui, noun: str, item_id: str) -> Response:
    """The page for a source, destination, plan, … this workspace does not have (any more)."""
    return ui.error(
        404,
        f"{noun[:1].upper()}{noun[1:]} not found",
        f"There is no {noun} {item_id} in this workspace. It may have been deleted.",
    )


def text(form: FormData, name: str) -> str:
    """A form field as stripped text ('' when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
