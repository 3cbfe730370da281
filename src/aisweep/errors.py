"""The one exception hierarchy: every error a user can cause or fix carries a message they can act on."""


class AisweepError(Exception):
    """Base of every error aisweep raises on purpose; the CLI prints its message as one line and exits 2."""


class TargetError(AisweepError):
    """A target, port specification or exclusion list could not be parsed."""


class RuleError(AisweepError):
    """A fingerprint rule or sample file is invalid; the message names the file and line."""


class StoreError(AisweepError):
    """The results database cannot be opened, migrated or queried."""


class LabError(AisweepError):
    """The emulated network could not be started."""
