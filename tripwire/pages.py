"""Reviewer pages with charts (mounted under /admin/govloop/ by the project urls)."""

urlpatterns: list = []
