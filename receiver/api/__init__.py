"""The HTTP edge: aiohttp lives only here."""
