"""TechScore training package."""
