"""python -m pause [--impl c|cffi|python] [pause options] [-- COMMAND...]

`c` (the default) execs the static binary with the remaining arguments; `cffi`
and `python` parse them here and run the C core or the Python reference in
this process, so the process is the pause."""
import os
import sys

from pause import IMPLEMENTATIONS, binary_path


def split_impl(argv):
    """Takes --impl NAME (or --impl=NAME) out of argv, before any `--`."""
    impl, rest, i = "c", [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest += argv[i:]
            break
        if a == "--impl" or a.startswith("--impl="):
            if a == "--impl":
                if i + 1 == len(argv):
                    return None, "missing a value for '--impl'"
                impl, i = argv[i + 1], i + 1
            else:
                impl = a.split("=", 1)[1]
            if impl not in IMPLEMENTATIONS:
                return None, "unknown implementation '%s' (choose from %s)" % (impl, ", ".join(IMPLEMENTATIONS))
        else:
            rest.append(a)
        i += 1
    return impl, rest


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    impl, rest = split_impl(argv)
    if impl is None:
        sys.stderr.write("pause: %s (see pause --help)\n" % rest)
        return 2
    if impl == "c":
        try:
            os.execv(binary_path(), ["pause"] + rest)
        except OSError as e:
            sys.stderr.write("pause: cannot run the static binary %s: %s (build it with `make build`)\n"
                             % (binary_path(), e.strerror))
            return 1
    from pause.args import Exit, parse
    try:
        cfg = parse(rest)
    except Exit as e:
        sys.stdout.write(e.out)
        sys.stderr.write(e.err)
        return e.code
    if impl == "cffi":
        try:
            from pause.core import pause_run
        except ImportError as e:
            sys.stderr.write("pause: the cffi core is not built (%s); run `make build`\n" % e)
            return 1
    else:
        from pause.reference import pause_run
    sys.stdout.flush()
    return pause_run(cfg)


if __name__ == "__main__":
    sys.exit(main())
