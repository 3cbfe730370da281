"""The check contract: a small class with a stable id, the level it needs, and a pure function from an identified
service (with its rule and observations) to findings. Built-in checks are listed in `aisweep.checks.registry`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from aisweep.models import Control, Finding, Level, Observation, Service, Severity
from aisweep.rules.model import Rule

if TYPE_CHECKING:
    from aisweep.checks.honeypot import HoneypotVerdict


@dataclass(frozen=True, slots=True)
class CheckContext:
    service: Service
    rule: Rule
    observations: Mapping[str, Observation]
    honeypot: HoneypotVerdict | None = None  # the service's verdict when the caller already has it (`conclude`)

    def finding(
        self,
        finding_id: str,
        *,
        title: str,
        severity: Severity,
        control: Control,
        evidence: str,
        remediation: str,
        category: str = "exposure",
        detail: str = "",
    ) -> Finding:
        """A finding for this service; the rule's own remediation text for the id wins over the generic one."""
        return Finding(
            id=finding_id,
            title=title,
            severity=severity,
            control=control,
            evidence=evidence,
            remediation=self.rule.remediation.get(finding_id) or remediation,
            category=category,
            fingerprint=self.service.finding_fingerprint(finding_id, detail),
        )


class Check(Protocol):
    id: ClassVar[str]
    level: ClassVar[Level]

    def run(self, ctx: CheckContext) -> list[Finding]: ...
