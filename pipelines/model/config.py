"""Every threshold of the metric definitions, validated once with exact messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.model.preach_classifier import default_threshold
from pipelines.model.windows import format_duration

DEFAULT_DELEGATION_CLIENTS: frozenset[str] = frozenset(
    {"buffer", "hootsuite", "sprout social", "later", "agorapulse", "sendible", "meetedgar", "socialbee"}
)


@dataclass(frozen=True)
class TierThresholds:
    """Followers needed for each tier; below `rising` an account with a known audience is `normal`."""

    celebrity: int = 1_000_000
    leader: int = 100_000
    rising: int = 10_000

    def __post_init__(self) -> None:
        if not 0 < self.rising < self.leader < self.celebrity:
            raise ValueError(
                "tier thresholds must satisfy 0 < rising < leader < celebrity, got "
                f"rising={self.rising} leader={self.leader} celebrity={self.celebrity}"
            )

    def tier(self, followers: int | None) -> str:
        if followers is None:
            return "unknown"
        if followers >= self.celebrity:
            return "celebrity"
        if followers >= self.leader:
            return "leader"
        if followers >= self.rising:
            return "rising"
        return "normal"


@dataclass(frozen=True)
class ReciprocityConfig:
    """The knobs of the metric and alert definitions. Durations are in milliseconds."""

    window_ms: int = 24 * 3_600_000
    period_ms: int = 3_600_000
    min_inbound: int = 20
    max_response_rate: float = 0.10
    resolve_response_rate: float = 0.20
    min_preach_score: float = 0.2
    min_preaching_posts: int = 2
    # A post or bio preaches when the classifier's probability reaches this; the default is the threshold chosen
    # out-of-fold on the corpus' tuning parts, never on its blind part (pipelines/lexicons/preach_model.json).
    min_preach_probability: float = field(default_factory=default_threshold)
    count_likes: bool = False
    allowed_lateness_ms: int = 0
    tiers: TierThresholds = field(default_factory=TierThresholds)
    delegation_clients: frozenset[str] = DEFAULT_DELEGATION_CLIENTS
    watchlist: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.period_ms <= 0 or self.window_ms <= 0:
            raise ValueError("--window and --period must be positive")
        if self.window_ms % self.period_ms:
            raise ValueError(
                f"--window ({format_duration(self.window_ms)}) must be a whole multiple of "
                f"--period ({format_duration(self.period_ms)})"
            )
        if self.min_inbound < 1:
            raise ValueError(f"--min_inbound must be at least 1, got {self.min_inbound}")
        for name in ("max_response_rate", "resolve_response_rate", "min_preach_score", "min_preach_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"--{name} must be between 0 and 1, got {value}")
        if self.resolve_response_rate < self.max_response_rate:
            raise ValueError(
                f"--resolve_response_rate ({self.resolve_response_rate}) must be at least "
                f"--max_response_rate ({self.max_response_rate})"
            )
        if self.min_preaching_posts < 1:
            raise ValueError(f"--min_preaching_posts must be at least 1, got {self.min_preaching_posts}")
        if self.allowed_lateness_ms < 0:
            raise ValueError("--allowed_lateness must not be negative")
        object.__setattr__(self, "delegation_clients", frozenset(c.strip().lower() for c in self.delegation_clients))

    @property
    def panes_per_window(self) -> int:
        return self.window_ms // self.period_ms
