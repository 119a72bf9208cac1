"""TechScore features package."""
