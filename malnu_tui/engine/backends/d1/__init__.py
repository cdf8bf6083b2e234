"""Cloudflare D1: one driver package.

``client`` (HTTP API), ``backend`` (the Backend), ``backup`` (its backup method),
``timetravel`` (bookmarks, export, import), ``lint`` (D1-specific checks of migrations) and
``wrangler`` (interop with wrangler's own migration table). Nothing is imported here, so
importing ``d1.lint`` does not pay for httpx.
"""
