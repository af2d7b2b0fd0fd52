"""Builds the parser's optional C fast path; everything else is in pyproject.toml.

`optional=True`: where no C compiler is available the package installs without it and the parser
uses Arrow's CSV reader for every chunk (same results, about a third slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cloudinsights_dagster.flowlogs._fastparse",
            ["cloudinsights_dagster/flowlogs/_fastparse.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
