"""Builds the parser's optional C fast path; everything else is in pyproject.toml.

`optional=True`: where no C compiler is available the package installs without it and the parser
uses Arrow's CSV reader for every chunk (same results, about a third slower). A build that failed
is not silent afterwards: `cloudinsights doctor` and `cloudinsights flowlogs check` say so.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Optimization flags by compiler family: GCC and Clang (and compilers that accept their flags)
# take -O3; MSVC spells it /O2. The C file itself is plain C99 with no platform extensions.
OPTIMIZE = {"unix": ["-O3"], "mingw32": ["-O3"], "cygwin": ["-O3"], "msvc": ["/O2"]}


class BuildExtWithFlags(build_ext):
    def build_extensions(self) -> None:
        flags = OPTIMIZE.get(self.compiler.compiler_type, [])
        for extension in self.extensions:
            extension.extra_compile_args = [*flags, *extension.extra_compile_args]
        super().build_extensions()


setup(
    cmdclass={"build_ext": BuildExtWithFlags},
    ext_modules=[
        Extension(
            "cloudinsights_dagster.flowlogs._fastparse",
            ["cloudinsights_dagster/flowlogs/_fastparse.c"],
            optional=True,
        )
    ],
)
