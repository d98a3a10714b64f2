"""Layer 0, torch-free: errors and source locations, symbolic sizes (``Sym``), tensor types, name
suggestions, the gc pause and atomic file writes. Imports nothing else from netdsl."""
