"""Drawing (matplotlib, imported only when something is drawn): :mod:`.panel` one figure
panel, :mod:`.sweep` the phase diagram of a sweep."""
