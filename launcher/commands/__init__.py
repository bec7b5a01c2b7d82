"""One module per `launcher` verb (crun's src/<verb>.c, containerd's
sandbox_run.go / sandbox_stop.go): each has USAGE, parse(argv) -> options
and main(options) -> exit code. launcher.cli imports only the verb it runs."""
