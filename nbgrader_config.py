# Lets plain `nbgrader ...` commands run from the repository root use the course layout.
# The configuration itself lives in autograder/nbgrader_config.py.
import os

load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)),  # noqa: F821
                            "autograder", "nbgrader_config.py"))
