import sys

from cloudinsights_dagster.demo.run import main

sys.exit(main(sys.argv[1:]))
