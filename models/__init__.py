"""TechScore models package."""
