"""The demo: the product end to end on a fake AWS (moto on 127.0.0.1), no AWS account needed.

`python -m cloudinsights_dagster.demo` (`make demo`) runs it; `python -m
cloudinsights_dagster.demo.ui` (`make ui`) opens the Dagster UI over the same world and keeps it
alive. moto comes with the `demo` extra (`pip install 'cloudinsights-dagster[demo]'`).
"""
