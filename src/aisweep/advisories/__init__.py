"""Vulnerability intelligence: offline OSV advisories, range matching per ecosystem, KEV flags and ignore files.

For the rest of aisweep:
- `AdvisoryCheck` (registered in `aisweep.checks.registry`) turns a service's version into `vuln.<id>` findings;
- `data_status()` says which advisory data is in use and how old it is (`data_status().line()` for reports);
- `load_ignore_file(path)` and `apply_ignores(services, ignores)` suppress findings a team has accepted;
- `aisweep.advisories.cli.app` is the `aisweep advisories` command group.
"""

from aisweep.advisories.database import AdvisoryDatabase, DataStatus, data_status, load_database
from aisweep.advisories.ignore import (
    IgnoreFileError,
    IgnoreList,
    IgnoreReport,
    apply_ignores,
    filter_findings,
    load_ignore_file,
)
from aisweep.advisories.match import Assessment, MatchStatus, assess_version

__all__ = [
    "AdvisoryDatabase",
    "Assessment",
    "DataStatus",
    "IgnoreFileError",
    "IgnoreList",
    "IgnoreReport",
    "MatchStatus",
    "apply_ignores",
    "assess_version",
    "data_status",
    "filter_findings",
    "load_database",
    "load_ignore_file",
]
