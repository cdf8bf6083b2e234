"""Cloudflare D1: one driver package.

``client`` (HTTP API), ``backend`` (the Backend), ``backup`` (its backup method),
``timetravel`` (bookmarks, export, import) and ``wrangler`` (interop with wrangler's own
migration table). Nothing is imported here. D1's lint rules are a rule set of the lint
(:mod:`malnu_tui.engine.lint.d1`).
"""
