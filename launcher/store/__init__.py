"""The launcher's state on disk: trusted roots (root.py), symlink-safe and
durable file operations (fs.py), the pod directory's layout and the
versioned records (the other modules). Nobody else spells a file name of
the state root."""
