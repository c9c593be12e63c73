"""Who may do what: the three auth modes, the bearer token, and the cross-site check.

- `readonly` (default): every read is allowed, every mutation is answered 403.
- `readwrite`: everything is allowed. Off loopback the server needs a bearer token.
- `header`: an authenticating proxy in front sets a user header (and a group header); a
  Casbin policy file grants `read` or `write` per namespace to users and groups.

A configured token is required in every mode, on every API request and on `/metrics`.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kontinue.api import Error, ErrorKind

__all__ = [
    "AUTH_MODES",
    "POLICY_MODEL",
    "TOKEN_COOKIE",
    "Auth",
    "AuthError",
    "ConfigError",
    "Principal",
    "is_loopback",
]

AUTH_MODES = ("readonly", "readwrite", "header")
TOKEN_COOKIE = "kontinue_token"
Action = Literal["read", "write"]

POLICY_MODEL = """
[request_definition]
r = sub, ns, act

[policy_definition]
p = sub, ns, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && keyMatch(r.ns, p.ns) && \
    (r.act == p.act || p.act == "*" || (r.act == "read" && p.act == "write"))
"""
"""The Casbin model of header mode: `p, SUBJECT, NAMESPACE, ACTION` lines grant `read` or
`write` (which includes read) in a namespace (`*` for all) to a user or group; `g, USER,
ROLE` lines give a user a role."""


class ConfigError(Error):
    """The server cannot start with these settings; the message says how to fix it."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False


class AuthError(Error):
    """A request is refused: `status` 401 (who are you?) or 403 (not allowed)."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Principal:
    """Who sent a request: the proxy's user and groups in header mode, else anonymous."""

    user: str | None = None
    groups: tuple[str, ...] = ()


def is_loopback(host: str) -> bool:
    """Whether a listen address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Auth:
    """The auth settings of one server, and the checks made on each request."""

    mode: str = "readonly"
    token: str | None = None
    policy_file: Path | None = None
    user_header: str = "X-Auth-User"
    group_header: str = "X-Auth-Groups"
    _enforcer: Any = field(default=None, repr=False)

    def check_config(self, host: str) -> None:
        """Refuse settings that would expose the server or that cannot work.

        Raises:
            ConfigError: naming the flag to change.
        """
        if self.mode not in AUTH_MODES:
            raise ConfigError(f"--auth-mode {self.mode!r}: use one of {', '.join(AUTH_MODES)}")
        if self.mode == "readwrite" and not is_loopback(host) and not self.token:
            raise ConfigError(
                f"--auth-mode readwrite on {host} would let anyone who can reach it run and "
                "cancel work; give a bearer token with --token-file FILE or "
                "KONTINUE_SERVER_TOKEN, or listen on 127.0.0.1"
            )
        if self.mode == "header":
            if self.policy_file is None:
                raise ConfigError(
                    "--auth-mode header needs --auth-config POLICY.csv (Casbin policy lines "
                    "such as `p, alice, team-a, write`)"
                )
            self._enforcer = _load_policy(self.policy_file)
        elif self.policy_file is not None:
            raise ConfigError("--auth-config is only used with --auth-mode header")

    # -- per request --------------------------------------------------------------------

    def authenticate(self, headers: Any, cookies: Any) -> Principal:
        """Check the token (when one is configured) and find the user in header mode.

        Raises:
            AuthError: 401 without a valid token, or without the user header.
        """
        if self.token:
            given = ""
            header = headers.get("authorization") or ""
            if header.lower().startswith("bearer "):
                given = header[7:].strip()
            elif cookies.get(TOKEN_COOKIE):
                given = cookies[TOKEN_COOKIE]
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                raise AuthError(
                    401,
                    "this server needs its bearer token: send `Authorization: Bearer TOKEN` "
                    "(the token is in the server's --token-file or KONTINUE_SERVER_TOKEN)",
                )
        if self.mode != "header":
            return Principal()
        user = (headers.get(self.user_header) or "").strip()
        if not user:
            raise AuthError(
                401,
                f"no {self.user_header} header: in header mode the server expects an "
                "authenticating proxy in front of it to name the user",
            )
        groups = tuple(
            g.strip() for g in (headers.get(self.group_header) or "").split(",") if g.strip()
        )
        return Principal(user, groups)

    def can(self, who: Principal, namespace: str, action: Action) -> bool:
        """Whether `who` may `read` or `write` in `namespace`."""
        if self.mode == "readwrite":
            return True
        if self.mode == "readonly":
            return action == "read"
        assert self._enforcer is not None
        return any(
            self._enforcer.enforce(sub, namespace, action) for sub in (who.user, *who.groups) if sub
        )

    def require(self, who: Principal, namespace: str, action: Action) -> None:
        """Raise AuthError(403) unless `who` may `action` in `namespace`."""
        if self.can(who, namespace, action):
            return
        if self.mode == "readonly":
            raise AuthError(
                403,
                "this server runs with --auth-mode readonly: it shows everything and changes "
                "nothing; start it with --auth-mode readwrite or header to allow actions",
            )
        subjects = ", ".join([who.user or "?", *who.groups])
        raise AuthError(
            403,
            f"{who.user} (groups: {', '.join(who.groups) or 'none'}) may not {action} in "
            f"namespace {namespace!r}; the policy grants nothing for {subjects} there",
        )


def _load_policy(path: Path) -> Any:
    import casbin
    from casbin.model import Model
    from casbin.persist.adapters import FileAdapter

    if not path.is_file():
        raise ConfigError(f"--auth-config {path}: no such file")
    problems = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f.strip() for f in text.split(",")]
        if fields[0] == "p" and len(fields) == 4 and fields[3] in ("read", "write", "*"):
            continue
        if fields[0] == "g" and len(fields) == 3:
            continue
        problems.append(
            f"{path}:{number}: {text!r} is not `p, SUBJECT, NAMESPACE, read|write` or "
            "`g, USER, ROLE`"
        )
    if problems:
        raise ConfigError("; ".join(problems))
    model = Model()
    model.load_model_from_text(POLICY_MODEL)
    return casbin.Enforcer(model, FileAdapter(str(path)))
