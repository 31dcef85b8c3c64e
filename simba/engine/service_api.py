"""A hosted service's API as SIMBA reads it: its URL checked, its stats answer read."""

from __future__ import annotations


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a service's API URL, or ``None``."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError as exc:
        return f"{url!r} is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL"
    return None


def jobs_completed(document: object) -> int:
    jobs = document.get("jobsCompleted") if isinstance(document, dict) else None
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise ValueError("its answer is not a JSON object with a whole number jobsCompleted")
    return jobs


def reason(exc: BaseException) -> str:
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP status {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__
