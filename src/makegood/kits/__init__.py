"""Kits: what the domains are built with, above core and db and below every domain
(the CLI kit: the command's context, its errors and its output)."""
