"""Relationship-maintenance engine: task rules, priority, capacity and suppression behind serving.maintenance_tasks."""
