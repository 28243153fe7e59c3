"""The demo agencies by name, with their default ports: cheap to import (no GraphQL)."""

AGENCY_NAMES = ("health", "education", "human_services", "courts")
DEFAULT_PORTS = {"health": 4001, "education": 4002, "human_services": 4003, "courts": 4004}
TITLES = {
    "health": "Department of Health",
    "education": "Department of Education",
    "human_services": "Department of Human Services",
    "courts": "State Courts",
}
