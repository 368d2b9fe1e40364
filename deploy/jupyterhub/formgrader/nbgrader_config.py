# nbgrader in the formgrader service. The service runs in the instructor's home (the parent of the
# checkout: formgrader wants the course inside its server's root), so nbgrader finds no
# nbgrader_config.py in its working folder and reads this one: the checkout's own configuration
# (course id "deeptrain", solutions/ -> course/, grading/, the sandbox, the limits), then the hub's
# exchange, which replaces the private one the checkout uses for the single-machine course.
import os

c = get_config()  # noqa: F821
load_subconfig(os.path.join(os.environ["DEEPTRAIN_COURSE_DIR"], "nbgrader_config.py"))  # noqa: F821
c.Exchange.root = os.environ.get("DEEPTRAIN_EXCHANGE", "/srv/nbgrader/exchange")
c.CourseDirectory.course_id = "deeptrain"
