"""Operations: readiness checks, metrics, structured logs, backups and their retention."""
