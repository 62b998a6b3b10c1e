"""Landing -> bronze -> silver as pure DataFrame transformations; jobs/ingest.py does the reading and writing."""
