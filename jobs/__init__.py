"""The imperative shell: Spark session, configuration, table catalog and Delta I/O, steps and the `crm` CLI."""
