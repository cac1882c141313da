import setuptools  # shim so Dataflow's --setup_file can build the package; metadata is in setup.cfg
setuptools.setup()
