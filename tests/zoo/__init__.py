"""The model zoo: netdsl specs of torchvision's models, checked against torchvision itself (the oracle).

`test_zoo.py` holds the table of models and the tests; `oracle.py` the helpers; `tv.py` imports
torchvision (tests only: netdsl itself never depends on it).
"""
