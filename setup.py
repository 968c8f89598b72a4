"""Maps the two source trees onto their import names (all metadata is in pyproject.toml)."""

from setuptools import find_namespace_packages, setup

core = find_namespace_packages("shared", include=["twinbed", "twinbed.*"])
services = [
    "twinbed_services" + name[len("services") :]
    for name in find_namespace_packages(".", include=["services", "services.*"])
]
setup(
    packages=core + services,
    package_dir={"twinbed": "shared/twinbed", "twinbed_services": "services"},
)
