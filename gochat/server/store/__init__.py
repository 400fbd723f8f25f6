"""Storage: ORM tables, queries, and the group-commit message writer."""
