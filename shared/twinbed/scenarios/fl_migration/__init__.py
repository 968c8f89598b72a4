"""fl-migration: energy-efficient federated learning and twin migration in digital twin edge
networks (seed 004: Zhou, Fu, Shi, Yang, Hung, Zhang). See README.md."""

from twinbed.scenarios.fl_migration.params import FlMigrationParams

__all__ = ["FlMigrationParams"]
