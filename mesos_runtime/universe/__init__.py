"""The package universe: the package format, option schemas, rendering, repositories,
verified artifacts (URL + sha512, PyPI sdists, Maven libraries locked per package) and the
artifact mirror with its packed, air-gap form.
"""
