"""Protocol-faithful fakes of external services, served on loopback."""
