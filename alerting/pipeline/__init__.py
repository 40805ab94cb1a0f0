"""The notification pipeline's stages (dedup → group → route → inhibit → silence / time intervals → budget → notify)."""
