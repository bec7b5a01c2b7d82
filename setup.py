"""Builds the pause toolkit: the cffi extensions, and the static pause binary,
which is installed as the `pause` command (dumb-init ships its C binary
through its Python package the same way)."""
import os
import subprocess

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from distutils.command.build_scripts import build_scripts  # setuptools ships distutils

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = {}
with open(os.path.join(HERE, "pause", "_version.py")) as f:
    exec(f.read(), VERSION)


def build_static_binary():
    """csrc/build-static.sh compiles the static binary into pause/bin/pause."""
    subprocess.run(["sh", os.path.join(HERE, "csrc", "build-static.sh"), VERSION["__version__"]],
                   check=True, cwd=HERE)


class BuildPy(build_py):
    """Builds the static binary first, so it is copied as package data."""

    def run(self):
        build_static_binary()
        super().run()


class BuildScripts(build_scripts):
    """Builds the static binary and installs it as the `pause` command, copied
    as it is (the stock command would read it as a Python script)."""

    def run(self):
        build_static_binary()
        self.mkpath(self.build_dir)
        for script in self.scripts:
            self.copy_file(script, os.path.join(self.build_dir, os.path.basename(script)))


CFFI_MODULES = ["pause/_build_core.py:ffibuilder", "launcher/runtime/_build_sys.py:ffibuilder"]

setup(
    name="pod-sandbox",
    version=VERSION["__version__"],
    description="A tiny PID-1 pause process, a pod launcher built from Linux namespaces, "
                "and a pytest plugin for zombie-reaping tests",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["pause", "pause.*", "launcher", "launcher.*"]),
    package_data={"pause": ["bin/pause", "bin/pod-monitor"], "launcher.net": ["netconf/*"]},
    setup_requires=["cffi>=1.15"],
    install_requires=["cffi>=1.15", "python-prctl>=1.8", "PyYAML>=6"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        "plot": ["matplotlib>=3.5"],
    },
    cffi_modules=CFFI_MODULES,
    scripts=["pause/bin/pause"],
    cmdclass={"build_py": BuildPy, "build_scripts": BuildScripts},
    entry_points={
        "console_scripts": [
            "launcher = launcher.cli:command",
        ],
        "pytest11": ["pause_namespace = pause.testing.plugin"],
    },
    zip_safe=False,
)
