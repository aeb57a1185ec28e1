"""Specs -> events and their history: what changed, recorded once.

Owns: :mod:`.diff` (pure change classification), :mod:`.sync` (apply calendar
files to the store, a batch of files per transaction), :mod:`.apply` and :mod:`.batch`
(one spec, or a batch of them, in set-based statements) and :mod:`.orphans` (events whose folder
or source left the config). May import: ``calendars``, ``store``, ``config`` and the
shared top-level modules.
"""
