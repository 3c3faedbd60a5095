"""The `dorch` command line: a thin layer over the SDK (`dorch.Client`)."""
