"""Calendar files in the configured folders -> plain specs (no database).

Owns: :mod:`.folders` (scan the folders; one result or one error per file),
:mod:`.tomlfile` (the contract's TOML format), :mod:`.icsfile` (plain ``.ics``,
also used by remote sources) and :mod:`.recurrence` (bounded expansion of recurring
events, for remote sources). May import: ``config`` and the shared top-level modules.
"""
