"""The social connector: Twitter/X, Reddit, LinkedIn, Instagram, each of which needs an account.

This app has no developer accounts or API tokens for these platforms and runs offline-first, so
every platform raises ``ConnectorUnavailable`` naming what it would need (the API answers 501). The
config is still validated, so a source saved today plugs into a real implementation later: replace
the platform's entry in ``MISSING`` with a fetcher and the rest of the app does not change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from server.services.connectors._common import ConfigModel, check_config
from server.services.connectors.base import ConnectorUnavailable, FetchResult

if TYPE_CHECKING:
    from collections.abc import Mapping

Platform = Literal["twitter", "x", "reddit", "linkedin", "instagram"]

MISSING: dict[str, str] = {
    "twitter": "Twitter/X needs an X API developer account with a paid access tier and its bearer token, "
    "plus network access to api.x.com; this app has neither configured.",
    "reddit": "Reddit needs a registered Reddit API application (client id and secret, OAuth) and network "
    "access to oauth.reddit.com; this app has neither configured. A subreddit's public RSS feed "
    "(https://www.reddit.com/r/<name>/.rss) can be read with the web connector instead.",
    "linkedin": "LinkedIn needs a LinkedIn developer application approved for the content APIs and an "
    "OAuth token, plus network access to api.linkedin.com; this app has neither configured.",
    "instagram": "Instagram needs a Meta developer application with the Instagram Graph API and an OAuth "
    "token, plus network access to graph.instagram.com; this app has neither configured.",
}
MISSING["x"] = MISSING["twitter"]


class SocialConfig(ConfigModel):
    """Which platform and what to follow there."""

    platform: Platform = Field(description="twitter (or x), reddit, linkedin or instagram")
    query: str | None = Field(None, max_length=500, description="Search query or hashtag")
    username: str | None = Field(None, max_length=200)
    subreddit: str | None = Field(None, max_length=100)
    sort: Literal["hot", "new", "top", "rising"] | None = None
    folder_url: str | None = Field(None, max_length=2048)
    max_items: int = Field(50, ge=1, le=1000)
    limit: int | None = Field(None, ge=1, le=1000)


class SocialConnector:
    """Social platforms: validated configs, and a clear 'not available' for each."""

    kind = "social"

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return check_config(SocialConfig, config)

    async def test(self, config: Mapping[str, Any]) -> str:
        raise ConnectorUnavailable(MISSING[self.validate(config)["platform"]])

    async def fetch_new(self, config: Mapping[str, Any], state: dict[str, Any]) -> FetchResult:
        raise ConnectorUnavailable(MISSING[self.validate(config)["platform"]])
