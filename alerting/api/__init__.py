"""The alerting REST API and the pages people open (ack page, incident board, hotline lookup), on aiohttp."""
