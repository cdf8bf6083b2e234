"""Cloudflare D1: one driver package.

``client`` (the HTTP API: errors, ``d1://`` URLs, retries), ``backend`` (the Backend),
``backup`` (its backup method), ``timetravel`` (bookmarks, export, import) and ``wrangler``
(interop with wrangler's own migration table). D1's lint rules are a rule set of
:mod:`malnu_tui.engine.lint` (``lint/d1.py``). Nothing is imported here, so importing one
module does not pay for the others (nor for httpx).
"""
