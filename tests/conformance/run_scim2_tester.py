#!/usr/bin/env python3
"""Check a live SCIM 2.0 server with scim2-tester and print a one-line verdict.

Works against any SCIM server, not only scimbox:

    python tests/conformance/run_scim2_tester.py --url BASE_URL --token TOKEN [--report out.json]

BASE_URL is the SCIM base URL (the one under which /Users, /Schemas... live); the token is sent
as `Authorization: Bearer TOKEN`. Both can come from SCIM_BASE_URL and SCIM_TOKEN instead
(better for the token: arguments are visible to every user of the machine).

What runs: scim2-tester's `check_server` with nothing narrowed down. The client is given no
description of the server, so the checker reads /ServiceProviderConfig, /ResourceTypes and
/Schemas and then runs every check (discovery, misc, create/read/list/search/replace/delete,
and PATCH add/replace/remove on every attribute path of every published schema, extensions
included) for every resource type the server publishes. --resource-type and the tag options
narrow that down for debugging.

The last line is `scim2-tester: N passed, M failed, K skipped`.

Exit status: 0 when every check passed and every skip is explained in EXPLAINED_SKIPS;
1 when the server failed a check (or the wall clock ran out, or a skip is unexplained);
2 when the harness itself could not run (bad arguments, a crash in the checker).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from importlib import metadata
from typing import Any

# Skips that are correct for this server, keyed by (check name, resource type or None).
# A skip not listed here fails the run: a skip usually means something was not exercised.
# Each entry says, in its value and a comment, which RFC section makes the check inapplicable
# (the value must start with "RFC 7643 §" or "RFC 7644 §"). Example of the form:
#
#     # RFC 7644 §3.4.3: searching several resource types at once is optional (MAY).
#     ("search_with_attributes", "User"): "RFC 7644 §3.4.3: server-root /.search is a MAY",
EXPLAINED_SKIPS: dict[tuple[str, str | None], str] = {}

# Failures where the checker, not the server, is wrong about the RFC, keyed by (check name,
# resource type, the attribute path the check was about). They stay visible (counted as
# failed and printed with their reason) but do not fail the run; README.md, section
# "Conformance", quotes the RFC text for each. A failure not listed here fails the run.
KNOWN_CHECKER_DEFECTS: dict[tuple[str, str | None, str], str] = {
    # RFC 7643 §4.2 and its own example in §8.4 return `display` for each member: the server
    # fills it from the member. The checker expects exactly the members it sent, without it.
    ("check_add_attribute", "Group", "members"): "RFC 7643 §8.4: members carry display",
    ("check_replace_attribute", "Group", "members"): "RFC 7643 §8.4: members carry display",
    # The access extension has only read-only, computed attributes (returned on request). The
    # checker PATCHes it with nothing but nulls and expects an extension object of nulls back;
    # RFC 7643 §2.5 makes unassigned and null the same state, so no object is the same answer.
    ("check_add_attribute", "User", "urn:scimbox:params:scim:schemas:extension:access:2.0:User"):
        "RFC 7643 §2.5: null and unassigned are equivalent",
    ("check_replace_attribute", "User", "urn:scimbox:params:scim:schemas:extension:access:2.0:User"):
        "RFC 7643 §2.5: null and unassigned are equivalent",
}

_RFC_REFERENCE = re.compile(r"^RFC 764[34] §\d+(\.\d+)*\b")

EXIT_OK = 0
EXIT_NONCONFORMANT = 1
EXIT_HARNESS = 2

# Reasons scim2-tester gives to checks it did not run because of the tag options: those were
# deselected on purpose, so they are neither skips nor failures.
_DESELECTED_REASONS = ("Skipped due to tag filtering", "Skipped due to tag exclusion")


class WallClockExceeded(BaseException):
    """Raised from the timer signal. A BaseException so that the checker's own
    `except Exception` (which turns errors into failed checks) does not swallow it."""


@dataclass
class Outcome:
    check: str
    resource_type: str | None
    status: str  # scim2-tester's status name, or HARNESS for checks this script adds
    outcome: str  # passed, warning, failed, skipped, deselected
    reason: str | None
    detail: str | None = None
    explanation: str | None = None

    @property
    def label(self) -> str:
        return f"[{self.resource_type}] {self.check}" if self.resource_type else self.check


def _short(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _detail(data: Any, depth: int = 0) -> str | None:
    """What the server said, extracted from the debugging data a check result carries."""
    if data is None or depth > 3:
        return None
    if isinstance(data, BaseException):
        return _detail(getattr(data, "source", None), depth + 1)
    if isinstance(data, dict):
        if isinstance(data.get("error"), BaseException):
            return _detail(data["error"], depth + 1)
        if any(key in data for key in ("detail", "scimType")):
            parts = [str(data.get("status") or ""), str(data.get("scimType") or "")]
            head = " ".join(p for p in parts if p)
            return _short(f"{head}: {data.get('detail', '')}" if head else data.get("detail", ""))
        return _short(json.dumps(data, default=str))
    if hasattr(data, "status_code") and hasattr(data, "text"):  # an HTTP response
        try:
            payload = data.json()
        except Exception:
            payload = None
        inner = _detail(payload, depth + 1) if isinstance(payload, dict) else None
        if inner and inner.startswith(str(data.status_code)):
            return inner
        return f"HTTP {data.status_code}: {inner or _short(data.text or '(empty body)')}"
    try:
        from scim2_models import Error

        if isinstance(data, Error):
            return _short(f"{data.status} {data.scim_type or ''}: {data.detail or ''}")
    except ImportError:  # pragma: no cover
        pass
    if isinstance(data, str):
        return _short(data)
    return None


def _classify(result: Any, status_names: dict[str, str]) -> Outcome:
    status = result.status.name
    reason = result.reason
    check = result.title or "(untitled check)"
    rtype = result.resource_type
    outcome = Outcome(check, rtype, status, status_names.get(status, "failed"), reason)
    if outcome.outcome == "skipped":
        if reason in _DESELECTED_REASONS:
            outcome.outcome = "deselected"
        else:
            outcome.explanation = EXPLAINED_SKIPS.get((check, rtype))
    urn = result.data.get("urn") if isinstance(result.data, dict) else None
    if outcome.outcome == "failed" and urn is not None:
        outcome.explanation = KNOWN_CHECKER_DEFECTS.get((check, rtype, str(urn)))
    if outcome.outcome in ("failed", "warning") or (
        outcome.outcome == "skipped" and outcome.explanation is None
    ):
        outcome.detail = _detail(result.data)
    return outcome


def _check_explained_skips() -> bool:
    ok = True
    for key, why in EXPLAINED_SKIPS.items():
        if not _RFC_REFERENCE.match(why):
            print(
                f"EXPLAINED_SKIPS{key!r} must start with the RFC section that makes the "
                f"check inapplicable (e.g. 'RFC 7644 §3.4.3: ...'), got {why!r}",
                file=sys.stderr,
            )
            ok = False
    return ok


def _parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Run scim2-tester against a SCIM 2.0 server.",
        epilog="Exit status: 0 conformant, 1 nonconformant, 2 harness error.",
    )
    p.add_argument(
        "--url",
        default=os.environ.get("SCIM_BASE_URL"),
        help="the SCIM base URL, under which /Users and /Schemas live (env SCIM_BASE_URL)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("SCIM_TOKEN"),
        help="bearer token (env SCIM_TOKEN; prefer the variable)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("SCIM_TESTER_TIMEOUT", "600")),
        help="wall clock for the whole run, in seconds (default 600)",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        default=30.0,
        help="timeout of one HTTP request, in seconds (default 30)",
    )
    p.add_argument("--report", metavar="FILE", help="write a JSON summary to FILE")
    p.add_argument(
        "--resource-type",
        action="append",
        default=[],
        metavar="NAME",
        help="check only this resource type (repeatable; default: all the server publishes)",
    )
    p.add_argument(
        "--expect-resource-type",
        action="append",
        default=[],
        metavar="NAME",
        help="fail unless the server publishes and the run checks this resource type "
        "(repeatable)",
    )
    p.add_argument(
        "--include-tag", action="append", default=[], metavar="TAG",
        help="run only checks with this scim2-tester tag (repeatable), e.g. discovery, crud, patch",
    )
    p.add_argument(
        "--exclude-tag", action="append", default=[], metavar="TAG",
        help="do not run checks with this scim2-tester tag (repeatable)",
    )
    p.add_argument(
        "--insecure", action="store_true", help="do not verify the server's TLS certificate"
    )
    p.add_argument(
        "--strict-should",
        action="store_true",
        help="count DEVIATION results (SHOULD-level departures) as failures, not warnings",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also list the passed checks")
    args = p.parse_args(argv)
    if not args.url:
        p.error("--url (or SCIM_BASE_URL) is required")
    if args.timeout <= 0 or args.request_timeout <= 0:
        p.error("timeouts must be positive")
    return args


def _run_checker(args: argparse.Namespace, requests_log: collections.deque, counter: list[int]):
    import httpx2
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server

    def on_request(request: Any) -> None:
        counter[0] += 1
        requests_log.append(f"{request.method} {request.url}")

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    http = httpx2.Client(
        base_url=args.url,
        headers=headers,
        timeout=args.request_timeout,
        verify=not args.insecure,
        event_hooks={"request": [on_request]},
    )
    with http:
        # No provider, so the checker describes the server from its own discovery endpoints.
        client = SyncSCIMClient(http)
        return check_server(
            client,
            raise_exceptions=False,
            include_tags=set(args.include_tag) or None,
            exclude_tags=set(args.exclude_tag) or None,
            resource_types=args.resource_type or None,
        )


def main(argv: list[str]) -> int:
    args = _parse_args(argv)
    if not _check_explained_skips():
        return EXIT_HARNESS
    version = metadata.version("scim2-tester")
    print(f"scim2-tester {version}: checking {args.url} (wall clock {args.timeout:.0f}s)")
    sys.stdout.flush()

    status_names = {
        "SUCCESS": "passed",
        "COMPLIANT": "passed",
        "ACCEPTABLE": "passed",
        "DEVIATION": "failed" if args.strict_should else "warning",
        "ERROR": "failed",
        "CRITICAL": "failed",
        "SKIPPED": "skipped",
    }

    requests_log: collections.deque[str] = collections.deque(maxlen=10)
    counter = [0]
    outcomes: list[Outcome] = []
    started = time.monotonic()

    def on_alarm(signum: int, frame: Any) -> None:
        raise WallClockExceeded()

    has_alarm = hasattr(signal, "SIGALRM")
    if has_alarm:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
    try:
        results = _run_checker(args, requests_log, counter)
    except WallClockExceeded:
        results = []
        last = "; ".join(requests_log) or "none"
        outcomes.append(
            Outcome(
                "wall_clock",
                None,
                "HARNESS",
                "failed",
                f"the run did not finish within {args.timeout:.0f}s; results of the checks "
                f"that did run are lost. {counter[0]} HTTP requests were sent.",
                _short(f"last requests: {last}", 1200),
            )
        )
    finally:
        if has_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.monotonic() - started

    outcomes.extend(_classify(r, status_names) for r in results)

    if results:
        checked_types = {o.resource_type for o in outcomes if o.resource_type}
        for name in args.expect_resource_type:
            if name not in checked_types:
                outcomes.append(
                    Outcome(
                        "expected_resource_type",
                        name,
                        "HARNESS",
                        "failed",
                        f"no check ran on resource type {name}: the server does not publish "
                        "it in /ResourceTypes (or its schema), or discovery failed",
                    )
                )
        if not checked_types and not args.include_tag and not any(
            o.outcome == "failed" for o in outcomes
        ):
            outcomes.append(
                Outcome(
                    "resource_types_exercised",
                    None,
                    "HARNESS",
                    "failed",
                    "discovery succeeded but no resource type was checked: "
                    "/ResourceTypes is empty or none matches --resource-type",
                )
            )

    counts = collections.Counter(o.outcome for o in outcomes)
    passed = counts["passed"] + counts["warning"]
    failed = counts["failed"]
    skipped = counts["skipped"]
    unexplained = [o for o in outcomes if o.outcome == "skipped" and o.explanation is None]

    for o in outcomes:
        if o.outcome == "passed" and not args.verbose:
            continue
        if o.outcome == "deselected":
            continue
        tag = {
            "passed": "ok  ",
            "warning": "WARN",
            "failed": "FAIL",
            "skipped": "SKIP" if o.explanation else "SKIP (unexplained)",
        }[o.outcome]
        print(f"{tag} {o.label}: {o.reason or '(no reason given)'}")
        if o.detail:
            print(f"       detail: {o.detail}")
        if o.explanation:
            print(f"       explained: {o.explanation}")

    used = {(o.check, o.resource_type) for o in outcomes if o.explanation}
    for key in EXPLAINED_SKIPS:
        if key not in used:
            print(f"note: EXPLAINED_SKIPS entry {key!r} matched no skip; remove it if stale")

    # The same server answer behind many failures is usually one missing feature.
    by_cause = collections.Counter(
        o.detail or o.reason or "(no reason given)" for o in outcomes if o.outcome == "failed"
    )
    if by_cause:
        print("failures by cause:")
        for cause, n in by_cause.most_common(15):
            print(f"  {n:4d} x {cause}")
        if len(by_cause) > 15:
            print(f"  ... and {len(by_cause) - 15} more causes")
    if counts["deselected"]:
        print(f"{counts['deselected']} checks deselected by the tag options")
    if unexplained:
        print(
            f"{len(unexplained)} skipped checks are not in EXPLAINED_SKIPS "
            "(tests/conformance/run_scim2_tester.py): each skip must cite the RFC section "
            "that makes it inapplicable, or be fixed"
        )
    print(f"{counter[0]} HTTP requests in {elapsed:.1f}s")

    if args.report:
        report = {
            "tool": "scim2-tester",
            "version": version,
            "url": args.url,
            "duration_seconds": round(elapsed, 3),
            "http_requests": counter[0],
            "counts": {
                "passed": passed,
                "failed": failed,
                "skipped": skipped,
                "warnings": counts["warning"],
                "deselected": counts["deselected"],
                "unexplained_skips": len(unexplained),
            },
            "results": [o.__dict__ for o in outcomes],
        }
        directory = os.path.dirname(args.report)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, default=str)
            f.write("\n")

    defects = [o for o in outcomes if o.outcome == "failed" and o.explanation]
    for o in defects:
        print(f"known checker defect: {o.label}: {o.explanation} (README, Conformance)")
    print(f"scim2-tester: {passed} passed, {failed} failed, {skipped} skipped")
    if defects:
        print(
            f"scim2-tester: {len(defects)} of the failures are known checker defects; "
            f"{failed - len(defects)} are not"
        )
    return EXIT_NONCONFORMANT if failed > len(defects) or unexplained else EXIT_OK


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except BaseException:
        traceback.print_exc()
        print("scim2-tester: the harness failed before it could count the checks", file=sys.stderr)
        sys.exit(EXIT_HARNESS)
