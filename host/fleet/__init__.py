"""The fleet: records from history.db over MQTT to Home Assistant and to PostgreSQL.

payload (the MQTT message of a page of records, sans-IO), publish (QoS 1, watermark on
PUBACK), discovery (Home Assistant's config messages), gateway (sync + publish service),
ingest (shared subscription into PostgreSQL, chain checked), commands (the CLI's part)."""
