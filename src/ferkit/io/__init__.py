"""Reading and writing: inputs (files, folders, globs, URLs), image decoding, the result
records and their writers, annotated pictures, outputs written whole."""
