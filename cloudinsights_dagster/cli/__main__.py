from cloudinsights_dagster.cli import main

main()
