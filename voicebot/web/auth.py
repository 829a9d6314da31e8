"""Dashboard users, logins and CSRF tokens.

Users live in a YAML file (``dashboard.users_file``, under ``var/`` unless absolute)::

    users:
      sam:  {role: supervisor, password: "scrypt$16384$8$1$<salt hex>$<hash hex>"}
      alex: {role: agent, department: billing, password: "scrypt$..."}

Passwords are stored as scrypt hashes (:func:`hash_password`; ``voicebot dashboard
add-user`` writes them). A login gets a random session token (HttpOnly, SameSite=Strict
cookie) and its own CSRF token, which every form that changes something must send back.
Sessions live in memory: restarting the dashboard logs everybody out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from voicebot.config import read_yaml
from voicebot.errors import ConfigError

ROLES = ("supervisor", "agent")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, salt: bytes | None = None) -> str:
    """An scrypt hash of ``password`` in the form ``scrypt$n$r$p$salt$hash`` (hex)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    department: str | None = None

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    def may_see_department(self, department: str | None) -> bool:
        return self.is_supervisor or (department is not None and department == self.department)


class UserDirectory:
    """The users file: who may log in, with which role."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: dict[str, tuple[User, str]] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        data = read_yaml(self.path, "dashboard users file") or {}
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict):
            raise ConfigError(f"dashboard users file {self.path}: needs a 'users:' mapping")
        for name, entry in users.items():
            where = f"dashboard users file {self.path}: user '{name}'"
            if not isinstance(entry, dict) or not isinstance(entry.get("password"), str):
                raise ConfigError(f"{where} needs a password hash")
            role = entry.get("role")
            if role not in ROLES:
                raise ConfigError(f"{where}: role must be one of {', '.join(ROLES)}")
            dept = entry.get("department")
            if role == "agent" and not dept:
                raise ConfigError(f"{where}: an agent needs a department")
            self._users[str(name)] = (User(str(name), role, dept), entry["password"])

    def __len__(self) -> int:
        return len(self._users)

    def authenticate(self, name: str, password: str) -> User | None:
        found = self._users.get(name)
        if found is None:
            verify_password(password, hash_password("x"))  # same time as a wrong password
            return None
        user, stored = found
        return user if verify_password(password, stored) else None

    def add(self, name: str, password: str, role: str, department: str | None = None) -> None:
        """Add or replace a user and save the file (0600)."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}")
        if role == "agent" and not department:
            raise ConfigError("an agent needs a department (--department)")
        if not name or any(c.isspace() for c in name):
            raise ConfigError("a user name must be non-empty without spaces")
        self._users[name] = (User(name, role, department), hash_password(password))
        out: dict[str, Any] = {}
        for key, (user, stored) in sorted(self._users.items()):
            entry: dict[str, Any] = {"role": user.role, "password": stored}
            if user.department:
                entry["department"] = user.department
            out[key] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump({"users": out}, sort_keys=True), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(self.path)


@dataclass
class Login:
    user: User
    csrf: str
    last_seen: float


class Sessions:
    """Logged-in sessions by token, expiring after ``idle_s`` without a request."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._logins: dict[str, Login] = {}
        self._lock = threading.Lock()

    def create(self, user: User) -> tuple[str, Login]:
        token = secrets.token_urlsafe(32)
        login = Login(user, secrets.token_urlsafe(32), time.monotonic())
        with self._lock:
            self._logins[token] = login
        return token, login

    def get(self, token: str | None) -> Login | None:
        if not token:
            return None
        with self._lock:
            login = self._logins.get(token)
            now = time.monotonic()
            if login is None or now - login.last_seen > self.idle_s:
                self._logins.pop(token, None)
                return None
            login.last_seen = now
            return login

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._logins.pop(token or "", None)


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given), expected)
