"""aisweep: find and measure exposed self-hosted AI infrastructure, safely, at internet scale."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/aisweep/aisweep"
USER_AGENT = f"aisweep/{__version__} (+{PROJECT_URL}; security research scanner, opt-out: see URL)"
