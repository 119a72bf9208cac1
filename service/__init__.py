"""TechScore service package."""
