"""The `ferkit` subcommands, one module each: flags, a call into the library, printing.
common.py holds what several of them share."""
