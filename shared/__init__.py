# Modules that the firmware and the host import unchanged: formats, checksums, schemas.
