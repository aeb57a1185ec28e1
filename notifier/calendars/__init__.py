"""Calendar files in the configured folders -> plain specs (no database).

Owns: :mod:`.folders` (scan the folders; one result or one error per file),
:mod:`.tomlfile` (the contract's TOML format), :mod:`.icsfile` (plain ``.ics``,
also used by remote sources), :mod:`.recurrence` (bounded expansion of recurring
events, for remote sources) and :mod:`.demo` (the text of the demo calendar).
May import: ``config`` and the shared top-level modules.
"""
